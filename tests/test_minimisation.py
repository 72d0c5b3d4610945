"""Field-level minimisation fails closed, in both kinds of adapter, through the real bus.

The directory holds the demo's population register (its reply an object) and a grant
of dinsos limited to ``name`` and ``village``; bapenda's grant has no field list. The
adapters run with a descriptor of their own whose reply may be anything (an adapter's
descriptor file may differ from the directory's, and a grant may predate the check
that refuses a field list for such a reply). Under dinsos's grant a list of objects
has each object stripped, and any other reply (a string, a list of numbers) is never
sent: dinsos gets a 500, and the call is audited as such. Bapenda gets them whole.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiormq
import pytest
import yaml
from fastapi import FastAPI

from splp.adapters import Adapter
from splp.adapters.from_directory import from_directory
from splp.adapters.http import http_adapter
from splp.adapters.http_config import load_http_config
from splp.bus import Client
from splp.bus.audit_events import decode_audit_message
from splp.bus.descriptor import ServiceDescriptor, parse_descriptor
from splp.bus.names import AUDIT_EXCHANGE
from splp.demo.agency import RESIDENTS
from splp.errors import InternalError
from splp.http_server import serve_app
from splp.settings import Settings
from tests.test_adapter_grants import publisher_settings, users
from tests.test_data_protection import DEMO, REF, SIAK_A, SIAK_B, personal_directory

__all__ = ["users"]  # the fixture, used here

UNKNOWN = "1508019999999999"


def shaped(nik: str) -> Any:
    """A list of residents, a bare name, or a list of numbers, by NIK."""
    if nik == SIAK_A:
        return [RESIDENTS[SIAK_A], RESIDENTS[SIAK_B]]
    if nik == SIAK_B:
        return RESIDENTS[SIAK_B]["name"]
    return [1508, 1]


def loose_descriptor() -> ServiceDescriptor:
    """The register as the adapter's own file might say it: any reply is valid."""
    document = yaml.safe_load((DEMO / "penduduk.yaml").read_text(encoding="utf-8"))
    document.update(publisher=REF.publisher, service=REF.service, theme="uji")
    document["operations"]["get-by-nik"]["response"] = {}
    return parse_descriptor(document)


def agency() -> FastAPI:
    app = FastAPI()

    @app.post("/residents/search")
    async def search(body: dict[str, Any]) -> Any:
        return shaped(body["nik"])

    return app


async def audit_tap(broker: Settings) -> tuple[aiormq.abc.AbstractConnection, list[dict[str, Any]]]:
    connection = await aiormq.connect(broker.broker_url)
    channel = await connection.channel()
    await channel.exchange_declare(AUDIT_EXCHANGE, exchange_type="topic", durable=True)
    queue = (await channel.queue_declare(exclusive=True)).queue
    await channel.queue_bind(queue, AUDIT_EXCHANGE, routing_key=f"*.uji.uji.{REF.service}")
    events: list[dict[str, Any]] = []
    await channel.basic_consume(
        queue, lambda m: events.extend(decode_audit_message(m.body)), no_ack=True
    )
    return connection, events


async def handler(payload: dict[str, Any], _request: Any) -> Any:
    return shaped(payload["nik"])


@pytest.mark.parametrize("kind", ["sdk", "http"])
async def test_a_limited_grant_strips_each_object_of_a_list_and_refuses_other_replies(
    kind: str,
    broker: Settings,
    users: dict[str, Settings],
    tmp_path: Path,
) -> None:
    async with personal_directory(tmp_path) as directory:
        settings = publisher_settings(broker, directory, users, tmp_path / "cache")
        descriptor = loose_descriptor()
        _, grants = await from_directory(REF, settings)
        tap, events = await audit_tap(broker)
        async with serve_app(agency()) as agency_url:
            if kind == "sdk":
                adapter: Adapter = Adapter(
                    descriptor,
                    {"get-by-nik": handler},
                    settings,
                    grants=grants,
                    declare_topology=True,
                )
            else:
                config, _ = load_http_config(DEMO / "adapter.yaml")
                config.base_url = agency_url
                adapter = http_adapter(
                    config, descriptor, settings, grants=grants, declare_topology=True
                )
            async with (
                adapter,
                Client(users["dinsos"]) as dinsos,
                Client(users["bapenda"]) as bapenda,
            ):
                listed = await dinsos.call("uji", REF, "get-by-nik", {"nik": SIAK_A})
                assert listed == [
                    {"name": "Siti Aminah", "village": "Sungai Binjai"},
                    {"name": "Ahmad Fauzi", "village": "Muara Bungo"},
                ]
                for nik in (SIAK_B, UNKNOWN):
                    with pytest.raises(InternalError, match="granted fields"):
                        await dinsos.call("uji", REF, "get-by-nik", {"nik": nik})
                # without a field list every reply passes whole
                assert await bapenda.call("uji", REF, "get-by-nik", {"nik": SIAK_B}) == (
                    "Ahmad Fauzi"
                )
                assert await bapenda.call("uji", REF, "get-by-nik", {"nik": UNKNOWN}) == [1508, 1]
                for _ in range(200):
                    if len(events) >= 5:
                        break
                    await asyncio.sleep(0.05)
        await tap.close()
    user = {party: users[party].username for party in ("dinsos", "bapenda")}
    assert [(e["requester"], e["status"], e.get("fields")) for e in events] == [
        (user["dinsos"], 200, ["name", "village"]),
        (user["dinsos"], 500, None),
        (user["dinsos"], 500, None),
        (user["bapenda"], 200, None),
        (user["bapenda"], 200, None),
    ]
    assert all(e["kind"] == "response" for e in events)
