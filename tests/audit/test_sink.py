"""The sink on a real broker and both databases: batches, duplicates, bad events, restarts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator

import orjson
import pytest
from sqlalchemy import text

from splp.audit import AuditSink, AuditStore, verify
from splp.settings import Settings
from tests.audit.conftest import events, publish


async def wait_count(store: AuditStore, n: int, timeout: float = 30) -> int:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        count = await store.count()
        if count >= n or loop.time() > end:
            return count
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running(sink: AuditSink) -> AsyncIterator[AuditSink]:
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    try:
        yield sink
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def queue_depth(broker: Settings, queue: str) -> int:
    import aiormq

    connection = await aiormq.connect(broker.broker_url)
    try:
        channel = await connection.channel()
        return (await channel.queue_declare(queue, passive=True)).message_count or 0
    finally:
        await connection.close()


async def test_sink_stores_every_event_once_and_acks(
    broker: Settings, sink_queue: str, audit_store: AuditStore
) -> None:
    batch = events(600)
    messages = [batch[i : i + 100] for i in range(0, 600, 100)]
    await publish(broker, [*messages, messages[2]])  # one message delivered twice
    sink = AuditSink(
        AuditStore(audit_store.url), broker.broker_url, queue=sink_queue, batch_size=250
    )
    async with running(sink):
        assert await wait_count(audit_store, 600) == 600
        await asyncio.sleep(0.3)
        assert sink.metrics.value("splp_audit_sink_duplicate_events_total") == 100
    await sink.store.close()
    assert await queue_depth(broker, sink_queue) == 0
    verdict = await verify(audit_store)
    assert verdict.ok and verdict.records == 600
    async with audit_store.engine.connect() as connection:
        ids = (
            (await connection.execute(text("SELECT event_id FROM audit_records ORDER BY seq")))
            .scalars()
            .all()
        )
    assert sorted(ids) == sorted(e["id"] for e in batch)
    assert "splp_audit_sink_stored_events_total 600" in sink.metrics.render()


async def test_bad_events_are_stored_flagged_without_their_content(
    broker: Settings, sink_queue: str, audit_store: AuditStore
) -> None:
    good = events(2)
    bad = {**events(1)[0], "payload": {"nik": "SECRET-MARKER-1508"}}
    await publish(broker, [[good[0], bad, good[1]], b"not json SECRET-MARKER-1508"])
    sink = AuditSink(AuditStore(audit_store.url), broker.broker_url, queue=sink_queue)
    async with running(sink):
        assert await wait_count(audit_store, 4) == 4
    await sink.store.close()
    async with audit_store.engine.connect() as connection:
        rows = (
            await connection.execute(
                text("SELECT event_id, kind, event, flag FROM audit_records ORDER BY seq")
            )
        ).all()
    assert [r[0] for r in rows[:3]] == [good[0]["id"], bad["id"], good[1]["id"]]
    assert rows[0][3] is None and rows[2][3] is None
    assert "withheld: payload" in rows[1][3]
    assert orjson.loads(rows[1][2])["payload"].startswith("withheld: dict")
    assert rows[3][1] == "invalid" and "undecodable" in rows[3][3]
    assert all("SECRET-MARKER" not in str(r) for r in rows)
    assert (await verify(audit_store)).ok


@pytest.mark.chaos
@pytest.mark.slow
async def test_killing_the_sink_mid_stream_loses_and_repeats_nothing(
    broker: Settings, sink_queue: str, audit_store: AuditStore
) -> None:
    batch = events(20_000)
    env = {
        **os.environ,
        "SPLP_VHOST": broker.vhost,
        "SPLP_AMQP_URL": broker.amqp_url,
        "SPLP_AUDIT_DATABASE_URL": audit_store.url,
        "SPLP_BROKER_EVENTS_VHOST": "",  # the shared broker's events are not this test's
    }
    command = [
        sys.executable,
        "-m",
        "splp",
        "audit",
        "sink",
        "--queue",
        sink_queue,
        "--batch-size",
        "200",
    ]
    await publish(broker, [batch[i : i + 50] for i in range(0, len(batch), 50)])
    at_kill = []
    for threshold in (1000, 5000, 9000):
        process = await asyncio.create_subprocess_exec(*command, env=env)
        # killed once it has stored some, with most of the stream still in the queue
        await wait_count(audit_store, threshold, timeout=30)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        at_kill.append(await audit_store.count())
    assert all(count < len(batch) for count in at_kill), f"kills were not mid-stream: {at_kill}"
    process = await asyncio.create_subprocess_exec(*command, env=env)
    try:
        assert await wait_count(audit_store, len(batch), timeout=60) == len(batch)
        await asyncio.sleep(1.0)  # anything repeated would show up now
        assert await audit_store.count() == len(batch)
    finally:
        process.send_signal(signal.SIGTERM)
        assert await process.wait() == 0
    async with audit_store.engine.connect() as connection:
        ids = (await connection.execute(text("SELECT event_id FROM audit_records"))).scalars().all()
    assert sorted(ids) == sorted(e["id"] for e in batch)
    assert (await verify(audit_store)).ok
    assert await queue_depth(broker, sink_queue) == 0
