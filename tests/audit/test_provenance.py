"""Provenance on a real broker with real party users: the sink stores each event's
broker-validated sender, and an event forged by a party that may not speak for it is
stored flagged and counted in no report: usage and abuse, availability, the misuse
rules, the evaluation report and the list of a data subject's accesses."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiormq
import pytest
from aiormq import spec
from sqlalchemy import text, update

from splp.audit import AuditRecord, AuditSink, AuditStore, verify
from splp.audit.availability import availability
from splp.audit.broker_events import broker_event
from splp.audit.evaluation import WIB, Period, evaluation
from splp.audit.misuse import FailedLoginsRule, OfficeHoursRule, VolumeRule, detect
from splp.audit.query import Filters, subject_records
from splp.audit.reports import abuse, requester_totals, usage
from splp.bus.audit_events import audit_event
from splp.bus.names import AUDIT_EXCHANGE
from splp.bus.wire import dumps
from tests.audit.conftest import call_event
from tests.audit.test_sink import running, wait_count
from tests.broker.conftest import World, world  # noqa: F401


@pytest.fixture
async def world_queue(world: World) -> AsyncIterator[str]:  # noqa: F811
    """A queue of the test's own bound ``#`` to ``splp.audit`` in the world's vhost."""
    name = f"splp.audit.test-{uuid.uuid4().hex[:8]}"
    connection = await aiormq.connect(world.settings.broker_url)
    channel = await connection.channel()
    await channel.exchange_declare(AUDIT_EXCHANGE, exchange_type="topic", durable=True)
    await channel.queue_declare(name, durable=True)
    await channel.queue_bind(name, AUDIT_EXCHANGE, routing_key="#")
    try:
        yield name
    finally:
        await channel.queue_delete(name)
        await connection.close()


async def publish_as(
    url: str, routing_key: str, events: list[dict[str, Any]], user_id: str
) -> None:
    """Publish one audit message with a raw client, confirmed (raises if the broker refuses)."""
    connection = await aiormq.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.basic_publish(
            dumps(events),
            exchange=AUDIT_EXCHANGE,
            routing_key=routing_key,
            properties=spec.Basic.Properties(
                delivery_mode=2, message_id=events[0]["id"], user_id=user_id
            ),
        )
    finally:
        await connection.close()


SUBJECT = "k1:" + "ab" * 32
"""The keyed HMAC of one data subject, as an adapter records it (:mod:`splp.bus.subject`)."""


def service_down_event() -> dict[str, Any]:
    """A health probe's ``admin.service-down`` event (:mod:`splp.control_plane.health_probe`)."""
    return audit_event(
        "admin.service-down",
        "directory",
        actor="splp-health-probe",
        theme="kependudukan",
        publisher="dukcapil",
        service="penduduk",
        major=1,
        consumers=0,
        cause="no consumers",
    )


def approve_event() -> dict[str, Any]:
    return audit_event(
        "access.approve",
        "directory",
        actor="admin",
        theme="kependudukan",
        publisher="dukcapil",
        service="penduduk",
        major=1,
        requester="dinsos",
        request_id=1,
        from_state="submitted",
        to_state="approved",
    )


async def test_forged_events_are_stored_flagged_and_counted_in_no_report(
    world: World,  # noqa: F811
    world_queue: str,
    audit_store: AuditStore,
) -> None:
    dukcapil = world.user("dukcapil")
    # dukcapil's topic permission on splp.audit admits keys naming dukcapil: it uses one
    # of them for bodies that speak for the directory and for bapenda's service
    own_key = "response.kependudukan.dukcapil.penduduk"
    own = call_event(1, subject=SUBJECT)
    forged_approve = approve_event()
    forged_call = call_event(
        2,
        theme="pendapatan",
        publisher="bapenda",
        service="pajak",
        status=403,
        requester="dinsos",
        reason="no grant",
    )
    forged_call.pop("response_bytes", None)
    forged_access = call_event(3, theme="pendapatan", publisher="bapenda", service="pajak")
    forged_access["subject"] = SUBJECT  # an access to the subject's data that never was
    # and, speaking for the directory and the broker: its own service down, failed logins
    forged_down = service_down_event()
    millis = int(datetime.now(UTC).timestamp() * 1000)
    forged_logins = [
        broker_event("user.authentication.failure", {"name": "bapenda", "timestamp_in_ms": t})
        for t in (millis, millis + 1)
    ]
    await publish_as(world.url("dukcapil"), own_key, [own], dukcapil)
    await publish_as(world.url("dukcapil"), own_key, [forged_approve], dukcapil)
    await publish_as(world.url("dukcapil"), own_key, [forged_call, forged_access], dukcapil)
    await publish_as(world.url("dukcapil"), own_key, [forged_down, *forged_logins], dukcapil)
    # the broker itself refuses a user_id that is not the connection's user
    with pytest.raises(aiormq.exceptions.AMQPError):
        await publish_as(world.url("dukcapil"), own_key, [approve_event()], "guest")
    # a real directory event, through the directory's own emitter and broker user
    theme = f"prov-{uuid.uuid4().hex[:8]}"
    response = await world.api.post("/themes", json={"name": theme}, headers=world.api.as_("admin"))
    assert response.status_code == 201, response.text

    sink = AuditSink(
        AuditStore(audit_store.url),
        world.settings.broker_url,
        queue=world_queue,
        settings=world.settings,
    )
    async with running(sink):
        assert await wait_count(audit_store, 8) == 8
        await asyncio.sleep(0.3)
    await sink.store.close()
    assert await audit_store.count() == 8

    async with audit_store.engine.connect() as connection:
        rows = (
            await connection.execute(
                text("SELECT kind, publisher, sender, provenance FROM audit_records ORDER BY seq")
            )
        ).all()
    stored = {(row.kind, row.publisher): (row.sender, row.provenance) for row in rows}
    assert stored[("response", "dukcapil")] == (dukcapil, None)
    assert stored[("admin.theme-added", None)] == (world.settings.username, None)
    sender, why = stored[("access.approve", "dukcapil")]
    assert sender == dukcapil and why is not None and "may not speak for the directory" in why
    for kind in ("denied", "response"):
        sender, why = stored[(kind, "bapenda")]
        assert sender == dukcapil and why is not None
    assert f"expected broker user {world.user('bapenda')!r}" in why
    for kind in ("admin.service-down", "broker.user-authentication-failure"):
        sender, why = stored[(kind, "dukcapil" if kind.startswith("admin") else None)]
        assert sender == dukcapil and why is not None and "may not speak for" in why
    assert sink.metrics.value("splp_audit_sink_sender_mismatch_events_total") == 6

    # no report counts them: usage, per service and per requester, and abuse
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    report = await usage(audit_store, today, today + timedelta(days=1))
    assert [row["service"] for row in report["by_service"]] == ["dukcapil.penduduk.v1"]
    [requester] = report["by_requester"]
    assert (requester["requester"], requester["calls"], requester["denied"]) == ("dinsos", 1, 0)
    assert abuse(report) == []
    totals = await requester_totals(audit_store, "dinsos", today, today + timedelta(days=1))
    assert [(row["service"], row["calls"]) for row in totals] == [("dukcapil.penduduk.v1", 1)]
    # availability: the probe never spoke, so no service was observed
    now = datetime.now(UTC)
    assert await availability(audit_store, now - timedelta(hours=1), now + timedelta(hours=1)) == {}
    # the misuse rules: every call outside office hours, any volume, a single failed login
    rules = [
        OfficeHoursRule(rule="office_hours", weekdays=frozenset()),
        VolumeRule(rule="volume", baseline_windows=1, min_calls=1),
        FailedLoginsRule(rule="failed_logins", min_failures=1),
    ]
    hits = await detect(audit_store, rules, now + timedelta(seconds=1))
    assert sorted((h.rule, h.requester, h.service) for h in hits) == [
        ("office_hours", "dinsos", "dukcapil.penduduk.v1"),
        ("volume", "dinsos", "dukcapil.penduduk.v1"),
    ]
    # the evaluation report: its calls, its services, its availability
    period = Period.parse(now.astimezone(WIB).strftime("%Y-%m"))
    evaluated = await evaluation(audit_store, period, now=now + timedelta(seconds=1))
    assert (evaluated["totals"]["calls"], evaluated["totals"]["denied"]) == (1, 0)
    assert [s["service"] for s in evaluated["by_service"]] == ["dukcapil.penduduk.v1"]
    assert evaluated["availability"]["measured"] is False
    # a data subject's accesses: dinsos's call to dukcapil, not the forged one to bapenda
    async with audit_store.engine.connect() as connection:
        carrying = await connection.scalar(
            text("SELECT count(*) FROM audit_records WHERE event LIKE :s"), {"s": f"%{SUBJECT}%"}
        )
    assert carrying == 2  # both stored with the subject: only one is an access
    accesses = await subject_records(audit_store, Filters(), [SUBJECT])
    assert [(a["event"]["kind"], a["event"]["publisher"]) for a in accesses] == [
        ("response", "dukcapil")
    ]

    # the sender is inside the hash: the chain verifies, and a changed sender breaks it
    assert (await verify(audit_store)).ok
    async with audit_store.engine.begin() as connection:
        await connection.execute(
            update(AuditRecord)
            .where(AuditRecord.kind == "access.approve")
            .values(sender=world.settings.username, provenance=None)
        )
    verdict = await verify(audit_store)
    assert not verdict.ok and verdict.bad_event_id == forged_approve["id"]
    assert verdict.problem is not None and "modified" in verdict.problem
