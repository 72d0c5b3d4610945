"""The SDK's adapter serving the conformance kit's service, configured only from the
environment the kit gives (SPLP_AMQP_URL with the vhost in its path, SPLP_MAX_BODY_BYTES):
``splp conformance serve -- python tests/data/sdk_server.py``."""

from __future__ import annotations

import asyncio
from typing import Any

from splp.adapters import Adapter, Problem, Request
from splp.conformance.caller import RECORD, descriptor


async def get_by_nik(payload: dict[str, Any], _request: Request) -> Any:
    if payload["nik"] != RECORD["nik"]:
        raise Problem.not_found("no resident with that NIK")
    return RECORD


if __name__ == "__main__":
    asyncio.run(Adapter(descriptor(), {"get-by-nik": get_by_nik}).run())
