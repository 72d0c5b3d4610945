"""The end-to-end demo: a population register served through the bus and called over AMQP.

It runs on the embedded defaults (the local RabbitMQ in ``SPLP_VHOST``, default ``splp``):

1. makes sure the vhost exists (management API);
2. starts the sample Dukcapil API on a free port (a real HTTP server);
3. starts its HTTP adapter, which declares the ``kependudukan`` topology;
4. calls ``get-by-nik`` as a requester, for two residents;
5. shows the error cases: an unknown NIK (404) and a malformed NIK (400, schema);
6. stops everything and returns, leaving nothing running.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from splp.adapters import http_adapter, load_http_config
from splp.bus import Client
from splp.bus.management import Management
from splp.demo.agency import RESIDENTS, create_app
from splp.errors import RemoteError
from splp.http_server import serve_app
from splp.settings import Settings

HERE = Path(__file__).resolve().parent
THEME, SERVICE, OPERATION = "kependudukan", "dukcapil.penduduk.v1", "get-by-nik"

Say = Callable[[str], None]


async def run_demo(settings: Settings, say: Say) -> int:
    """Run the demo, reporting each step through ``say``; returns the number of calls made."""
    say(f"[step] preparing vhost {settings.vhost!r} on the local RabbitMQ")
    async with Management(settings) as management:
        await management.ensure_vhost(settings.vhost)

    config, descriptor = load_http_config(HERE / "adapter.yaml")
    assert descriptor is not None  # the demo ships its descriptor as a file
    calls = 0
    async with serve_app(create_app()) as agency_url:
        say(f"[step] Dukcapil population register API listening on {agency_url}")
        config.base_url = agency_url
        adapter = http_adapter(config, descriptor, settings, declare_topology=True)
        try:
            await adapter.start()
            say(f"[step] HTTP adapter consuming {adapter.queue} on {adapter.exchange}")
            async with Client(settings, name="splp-demo-requester") as client:
                for nik in RESIDENTS:
                    started = time.perf_counter()
                    reply = await client.call(THEME, SERVICE, OPERATION, {"nik": nik}, timeout=10)
                    calls += 1
                    ms = (time.perf_counter() - started) * 1000
                    say(f"[call] {OPERATION} -> 200 in {ms:.1f} ms: {_mask(reply)}")
                for label, payload in (
                    ("unknown NIK", {"nik": "1508019999999999"}),
                    ("malformed NIK", {"nik": "15-08"}),
                ):
                    try:
                        await client.call(THEME, SERVICE, OPERATION, payload, timeout=10)
                    except RemoteError as exc:
                        calls += 1
                        name = type(exc).__name__
                        say(f"[error] {label}: {name} {exc.status} {exc.type}: {exc.detail}")
                    else:
                        raise AssertionError(f"the {label} call should have failed")
        finally:
            await adapter.stop(grace=5)
    say("[done] adapter stopped, agency API stopped, nothing left running")
    return calls


def _mask(resident: Any) -> str:
    """The reply with the NIK masked: demo output ends up in terminals and CI logs."""
    shown = dict(resident)
    nik = str(shown.get("nik", ""))
    shown["nik"] = nik[:6] + "*" * max(0, len(nik) - 6)
    return json.dumps(shown, ensure_ascii=False)
