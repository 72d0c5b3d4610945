"""Events the store refuses, arriving over the real broker, neither stall the sink nor vanish.

Each test publishes good events around a bad one and waits until every event is in the
chain (the bad one as itself or as a ``rejected`` record) and the queue holds nothing,
acknowledged or not. Before the fix, a NUL character made PostgreSQL refuse the batch and
the sink retried it forever; a time past year 9999 ended the sink's writer on both
engines; a ``message_id`` that is not UTF-8 dropped the sink's connection on every
delivery, forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import aiormq
import orjson
import pytest
from aiormq import spec
from pamqp import encode
from sqlalchemy import text

from splp.audit import AuditSink, AuditStore, verify
from splp.audit.rejected import is_rejection, reason_of
from splp.bus.names import AUDIT_EXCHANGE
from splp.http_server import free_port
from splp.settings import Settings
from tests.audit.conftest import events, publish
from tests.audit.test_sink import queue_depth, running, wait_count


async def rows(store: AuditStore) -> list[Any]:
    async with store.engine.connect() as connection:
        return list(
            (
                await connection.execute(
                    text("SELECT event_id, kind, event, flag FROM audit_records ORDER BY seq")
                )
            ).all()
        )


async def drained(broker: Settings, queue: str, timeout: float = 10) -> bool:
    """Whether ``queue`` has no message left, ready or unacknowledged."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if await queue_depth(broker, queue) == 0 and await unacked(broker, queue) == 0:
            return True
        await asyncio.sleep(0.2)
    return False


async def unacked(broker: Settings, queue: str) -> int:
    import httpx

    async with httpx.AsyncClient(base_url=broker.management_url) as client:
        vhost = broker.vhost.replace("/", "%2F")
        response = await client.get(f"/api/queues/{vhost}/{queue}")
        response.raise_for_status()
        return int(response.json().get("messages_unacknowledged") or 0)


async def run_sink(
    broker: Settings, queue: str, store: AuditStore, expected: int
) -> tuple[int, AuditSink]:
    sink = AuditSink(AuditStore(store.url), broker.broker_url, queue=queue, batch_size=50)
    try:
        async with running(sink):
            count = await wait_count(store, expected, timeout=15)
            assert await drained(broker, queue), "the sink left messages in its queue"
    finally:
        await sink.store.close()
    return count, sink


async def test_nul_characters_become_rejected_records_and_the_rest_is_stored(
    broker: Settings, sink_queue: str, audit_store: AuditStore
) -> None:
    good = events(6)
    nul_requester = {**events(1)[0], "requester": "din\x00sos"}
    nul_id = {**events(1)[0], "id": "0123\x00"}
    nul_name = {**events(1)[0], "x\x00y": 1}
    messages: list[list[dict[str, Any]] | bytes] = [
        [good[0], nul_requester, good[1]],
        [good[2], nul_id],
        [nul_name, good[3]],
        good[4:],
    ]
    await publish(broker, messages)
    count, sink = await run_sink(broker, sink_queue, audit_store, 9)
    assert count == 9
    stored = await rows(audit_store)
    ids = [row[0] for row in stored]
    assert all(event["id"] in ids for event in good)
    rejected = [row for row in stored if row[1] == "rejected"]
    if audit_store.dialect == "postgresql":
        # PostgreSQL stores no NUL in a text column: all three are refused, then recorded
        assert len(rejected) == 3
        assert sink.metrics.value("splp_audit_sink_rejected_events_total") == 3
        for _event_id, _kind, event, flag in rejected:
            assert flag.startswith("rejected by the store: a character the database cannot")
            assert "SQLSTATE 22021" in flag and "\x00" not in flag
            record = orjson.loads(event)
            assert record["reason"] in flag and "dinsos" not in record["reason"]
            assert len(record["original_sha256"]) == 64
        originals = [orjson.loads(row[2])["original"] for row in rejected]
        assert originals[0]["requester"] == "din\ufffdsos"
        assert originals[1]["id"] == "0123\ufffd"
    assert (await verify(audit_store)).ok


async def test_over_long_and_out_of_range_values_are_stored(
    broker: Settings, sink_queue: str, audit_store: AuditStore
) -> None:
    good = events(4)
    long_values = {**events(1)[0], "requester": "r" * 100_000, "kind": "k" * 300}
    long_name = {**events(1)[0], "n" * 100_000: "v"}
    far_time = {**events(1)[0], "time": "9999-12-31T23:59:59-14:00"}
    await publish(broker, [[good[0], long_values], [long_name, good[1]], [far_time, *good[2:]]])
    count, _sink = await run_sink(broker, sink_queue, audit_store, 7)
    assert count == 7
    stored = {row[0]: row for row in await rows(audit_store)}
    for event in (*good, long_values, long_name, far_time):
        assert event["id"] in stored
    assert "withheld: kind, requester" in stored[long_values["id"]][3]
    assert "withheld: " + "n" * 63 in stored[long_name["id"]][3]
    assert orjson.loads(stored[far_time["id"]][2])["time"] == far_time["time"]
    assert (await verify(audit_store)).ok


async def publish_not_utf8(broker: Settings) -> str:
    """Publish, as a raw client may, a message whose ``message_id`` is not UTF-8."""
    original = encode._string

    def lenient(encoder: Any, value: Any) -> bytes:
        if isinstance(value, bytes):
            return bytes(encoder.pack(len(value))) + value
        return original(encoder, value)

    connection = await aiormq.connect(broker.broker_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        encode._string = lenient  # pamqp refuses to encode it; the broker does not care
        try:
            await channel.basic_publish(
                b"\xff\xfe not UTF-8 either",
                exchange=AUDIT_EXCHANGE,
                routing_key="response.kependudukan.dukcapil.penduduk",
                properties=spec.Basic.Properties(
                    delivery_mode=2,
                    message_id=b"\xffid-" + uuid.uuid4().hex[:8].encode(),  # type: ignore[arg-type]
                ),
            )
        finally:
            encode._string = original
    finally:
        await connection.close()
    return "response.kependudukan.dukcapil.penduduk"


async def test_invalid_utf8_in_a_message_is_stored_as_undecodable(
    broker: Settings, sink_queue: str, audit_store: AuditStore
) -> None:
    good = events(3)
    await publish(broker, [good[:1]])
    routing_key = await publish_not_utf8(broker)
    await publish(broker, [good[1:]])
    count, _sink = await run_sink(broker, sink_queue, audit_store, 4)
    assert count == 4
    stored = await rows(audit_store)
    assert [row[0] for row in stored if row[1] != "invalid"] == [e["id"] for e in good]
    (invalid,) = [row for row in stored if row[1] == "invalid"]
    event = orjson.loads(invalid[2])
    assert event["routing_key"] == routing_key
    assert event["message_id"].startswith("\ufffdid-")
    assert "undecodable" in invalid[3]
    assert (await verify(audit_store)).ok


async def test_a_refused_event_amid_many_is_cut_out_and_the_order_kept(
    broker: Settings, sink_queue: str, audit_store: AuditStore
) -> None:
    batch = events(200)
    batch[137] = {**batch[137], "service": "x\x00"}
    await publish(broker, [batch[i : i + 20] for i in range(0, 200, 20)])
    sink = AuditSink(AuditStore(audit_store.url), broker.broker_url, queue=sink_queue)
    try:
        async with running(sink):
            assert await wait_count(audit_store, 200, timeout=15) == 200
    finally:
        await sink.store.close()
    stored = await rows(audit_store)
    refused = 1 if audit_store.dialect == "postgresql" else 0  # SQLite stores NUL
    assert [row[1] for row in stored].count("rejected") == refused
    assert [row[0] for row in stored if row[1] != "rejected"] == [
        e["id"] for i, e in enumerate(batch) if i != 137 or not refused
    ]
    assert (await verify(audit_store)).ok


async def test_an_unreachable_store_is_retried_not_rejected(
    broker: Settings, sink_queue: str
) -> None:
    await publish(broker, [events(3)])
    port = free_port()  # nothing listens there
    store = AuditStore(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/none")
    store.migrate = lambda: asyncio.sleep(0)  # type: ignore[method-assign]
    sink = AuditSink(store, broker.broker_url, queue=sink_queue)
    task = asyncio.create_task(sink.run(asyncio.Event()))
    try:
        for _ in range(100):
            if sink.metrics.value("splp_audit_sink_errors_total") >= 2:
                break
            await asyncio.sleep(0.1)
        assert sink.metrics.value("splp_audit_sink_errors_total") >= 2
        assert sink.metrics.value("splp_audit_sink_rejected_events_total") == 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.close()
    # the message was not acknowledged: it is back in the queue for the next sink
    for _ in range(50):
        if await queue_depth(broker, sink_queue) == 1:
            break
        await asyncio.sleep(0.1)
    assert await queue_depth(broker, sink_queue) == 1


async def test_what_counts_as_a_refusal(audit_store: AuditStore) -> None:
    good = events(1)[0]
    await audit_store.append([(good, None)])
    async with audit_store.engine.connect() as connection:
        with pytest.raises(Exception) as conflict:  # a second writer took the same seq
            await connection.execute(
                text(
                    "INSERT INTO audit_records (seq, event_id, at, kind, event, prev_hash, hash)"
                    " VALUES (1, 'x', CURRENT_TIMESTAMP, 'k', '{}', 'p', 'h')"
                )
            )
    assert not is_rejection(conflict.value)
    if audit_store.dialect == "postgresql":
        with pytest.raises(Exception) as nul:
            await audit_store.append([({**events(1)[0], "kind": "a\x00"}, None)])
        assert is_rejection(nul.value)
        assert "SQLSTATE 22021" in reason_of(nul.value)
    with pytest.raises(OSError) as refused:
        await asyncio.open_connection("127.0.0.1", free_port())
    assert not is_rejection(refused.value)
    assert is_rejection(OverflowError("date value out of range"))
