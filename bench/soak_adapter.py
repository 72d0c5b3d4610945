"""The soak's publisher: ``python -m bench.soak_adapter SERVICE`` (settings from ``SPLP_*``).

A Python SDK adapter that takes its descriptor and grants from the directory
(``SPLP_DIRECTORY_URL``, ``SPLP_TOKEN``), refreshes the grants every ``SPLP_GRANTS_REFRESH``
seconds, emits audit events, and echoes each request until SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from splp.adapters import Service
from splp.bus import Request
from splp.settings import Settings


async def echo(payload: Any, request: Request) -> Any:
    return payload


async def main(service_ref: str) -> None:
    settings = Settings()
    service = await Service.from_directory(service_ref, settings)
    service.operation("echo")(echo)
    await service.adapter(settings, prefetch=32, declare_topology=True).run(grace=10)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    asyncio.run(main(sys.argv[1]))
