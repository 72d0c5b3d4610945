"""The health probe on the real broker: a service is up while an adapter consumes its
queue (and its ``health`` operation answers), down when the adapter stops or ``health``
fails; each transition is an audit event, and availability per period follows from them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from splp.adapters import Adapter
from splp.audit import AuditStore, screen
from splp.audit.availability import availability
from splp.bus import Request
from splp.bus.descriptor import parse_descriptor
from splp.bus.wire import Problem
from splp.control_plane.health_probe import HealthProbe
from tests.broker.conftest import descriptor_doc, made_world

OBJECT = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}


async def test_transitions_are_audited_and_give_availability(
    management: httpx.AsyncClient, tmp_path: Path
) -> None:
    async with made_world(management, tmp_path) as world:
        doc = descriptor_doc("dukcapil", "sehat", "kependudukan", ["get"])
        doc["operations"]["health"] = {"request": OBJECT, "response": OBJECT}
        published = await world.api.post("/services", json=doc, headers=world.api.as_("dukcapil"))
        assert published.status_code == 201, published.text
        failing = False

        async def health(payload: Any, request: Request) -> Any:
            if failing:
                raise Problem(503, "about:blank", "Unavailable", "database down")
            return {}

        async def get(payload: Any, request: Request) -> Any:
            return {}

        settings = world.settings.model_copy(update={"health_timeout": 1.0})
        probe = HealthProbe(world.store, world.app.state.events, settings)
        events: list[dict[str, Any]] = []

        async def sehat_until(up: bool) -> Any:
            """The management API counts consumers from statistics a few seconds old."""
            for _ in range(100):
                states = {str(p.ref): p for p in await probe.probe()}
                events.extend(e for e in probe.last_events if e["service"] == "sehat")
                probe.last_events = []
                if states["dukcapil.sehat.v1"].up == up:
                    return states["dukcapil.sehat.v1"]
                await asyncio.sleep(0.2)
            raise AssertionError(f"sehat never became {'up' if up else 'down'}")

        states = {str(p.ref): p for p in await probe.probe()}
        assert not states["dukcapil.sehat.v1"].up
        assert states["dukcapil.sehat.v1"].cause == "no consumers"
        assert not states["dukcapil.penduduk.v1"].up
        events.extend(e for e in probe.last_events if e["service"] == "sehat")

        adapter = Adapter(parse_descriptor(doc), {"get": get, "health": health}, world.settings)
        await adapter.start()
        try:
            assert (await sehat_until(up=True)).consumers == 1
            recorded = probe.recorded
            await probe.probe()
            assert probe.recorded == recorded  # no change: no new event
            failing = True
            assert (await sehat_until(up=False)).cause == "health answered 503"
            failing = False
            await sehat_until(up=True)
        finally:
            await adapter.stop(grace=5)
        # the management API may still count the stopped consumer: then health times out
        cause = (await sehat_until(up=False)).cause
        assert cause in {"no consumers", "health failed: RequestTimeout"}

        assert [e["kind"] for e in events] == [
            "admin.service-down",
            "admin.service-up",
            "admin.service-down",
            "admin.service-up",
            "admin.service-down",
        ]
        assert all(screen(e)[1] is None for e in events), events
        audit = AuditStore(f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}")
        await audit.migrate()
        try:
            await audit.append(screen(e) for e in events)
            start = datetime.fromisoformat(events[0]["time"].replace("Z", "+00:00"))
            await asyncio.sleep(0.05)
            end = datetime.now(UTC)
            report = await availability(audit, start, end)
        finally:
            await audit.close()
        figures = report["dukcapil.sehat.v1"]
        assert figures["outages"] == 3  # down at the start of the period, then twice
        times = [datetime.fromisoformat(e["time"].replace("Z", "+00:00")) for e in events]
        up = (times[2] - times[1]).total_seconds() + (times[4] - times[3]).total_seconds()
        observed = (end - start).total_seconds()
        assert abs(figures["observed_seconds"] - observed) < 0.01
        assert abs(figures["availability_percent"] - round(100 * up / observed, 3)) < 0.01
        assert 0 < figures["availability_percent"] < 100
