"""No answered call without its audit record: adapters SIGKILLed under load, and a full buffer.

An adapter acks a request only once the broker has confirmed its audit event, and the
event's id is derived from the call, so a request answered again after a redelivery is
still stored once. When the emitter's buffer is full, the adapter drops the oldest events
and counts them (fail open), or stops taking requests (``SPLP_AUDIT_FAIL_CLOSED``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiormq
import orjson
import pytest
from sqlalchemy import select

from splp.adapters import Adapter
from splp.audit import AuditRecord, AuditSink, AuditStore
from splp.bus import Client, ServiceDescriptor
from splp.bus.descriptor import parse_descriptor
from splp.bus.names import AUDIT_EXCHANGE, queue_for
from splp.errors import RequestTimeout, SplpError
from splp.settings import Settings
from tests.audit.test_sink import running
from tests.services import HANDLERS, echo_descriptor
from tests.test_adapter_lifecycle import wait_for_consumers
from tests.test_wire_raw import NIK, RawCaller, get_by_nik, reply_of

ROOT = Path(__file__).resolve().parents[2]
KILLS = 5


async def records_by_call(store: AuditStore, service: str) -> Counter[str]:
    """How many records the store holds for each correlation id of ``service``'s calls."""
    async with store.engine.connect() as connection:
        rows = await connection.execute(
            select(AuditRecord.event).where(AuditRecord.service == service)
        )
        events = [orjson.loads(row[0]) for row in rows]
    return Counter(e["correlation_id"] for e in events if "correlation_id" in e)


@pytest.mark.chaos
@pytest.mark.slow
async def test_every_answered_call_has_one_record_when_the_adapter_is_sigkilled(
    broker: Settings, sink_queue: str, tmp_path: Path
) -> None:
    descriptor = echo_descriptor(service="echo-sigkill")
    queue = queue_for(descriptor.ref)
    store = AuditStore(f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}")
    await store.migrate()  # before reading it: the sink migrates it too, in its own task
    sink = AuditSink(store, broker.broker_url, queue=sink_queue, batch_size=500)
    processes: list[asyncio.subprocess.Process] = []

    async def start_adapter() -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.replica",
            broker.vhost,
            descriptor.service,
            "32",
            cwd=ROOT,
            stderr=asyncio.subprocess.DEVNULL,
        )
        processes.append(process)
        await wait_for_consumers(broker, queue, 1)
        return process

    sent = 0
    answered: set[str] = set()
    failed = 0
    redelivered = 0
    stop_load = asyncio.Event()

    async def caller(client: Client, worker: int) -> None:
        nonlocal sent, failed, redelivered
        while not stop_load.is_set():
            sent += 1
            payload = {"id": worker * 1_000_000 + sent, "delay": 0.01}
            try:
                reply = await client.call_raw(
                    "uji", descriptor.ref, "echo", orjson.dumps(payload), timeout=8
                )
            except SplpError:
                failed += 1
                continue
            # the client's correlation id is the request's message_id
            answered.add(reply.header.properties.correlation_id or "")
            redelivered += bool(orjson.loads(reply.body).get("redelivered"))

    try:
        async with running(sink):
            adapter = await start_adapter()
            async with Client(broker) as client:
                load = [asyncio.create_task(caller(client, w)) for w in range(16)]
                for _ in range(KILLS):
                    await asyncio.sleep(1.5)
                    adapter.send_signal(signal.SIGKILL)
                    await adapter.wait()
                    adapter = await start_adapter()
                await asyncio.sleep(1.5)
                stop_load.set()
                await asyncio.gather(*load)
            adapter.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(adapter.wait(), 30) == 0
            # every confirmed event reaches the store
            loop = asyncio.get_running_loop()
            end = loop.time() + 20
            while loop.time() < end:
                counts = await records_by_call(store, descriptor.service)
                if answered <= set(counts):
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)  # a duplicate would show up now
            counts = await records_by_call(store, descriptor.service)
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
            await process.wait()
        await store.close()

    missing = answered - set(counts)
    repeated = {k: v for k, v in counts.items() if v > 1}
    print(
        f"\nSIGKILL x{KILLS}: calls sent {sent}, answered {len(answered)} "
        f"({redelivered} after a redelivery), failed {failed}; records {sum(counts.values())} "
        f"for {len(counts)} calls; answered without a record {len(missing)}, "
        f"calls with more than one record {len(repeated)}"
    )
    assert len(answered) > 500, "the load was not steady"
    assert redelivered, "no request was in flight at a kill"
    assert not missing, f"{len(missing)} answered calls have no audit record"
    assert not repeated, f"calls with several records: {repeated}"
    assert len(counts) <= sent


async def test_a_call_answered_twice_is_recorded_once(
    broker: Settings,
    sink_queue: str,
    tmp_path: Path,
    descriptor: ServiceDescriptor,
    make_adapter: Callable[..., Awaitable[Adapter]],
) -> None:
    """What a redelivery after a crash does, without the crash: the same request twice."""
    served = parse_descriptor({**descriptor.model_dump(mode="json"), "service": "penduduk-twice"})
    adapter = await make_adapter(served, {"get-by-nik": get_by_nik})
    store = AuditStore(f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}")
    await store.migrate()  # before reading it: the sink migrates it too, in its own task
    connection = await aiormq.connect(broker.broker_url)
    try:
        async with running(AuditSink(store, broker.broker_url, queue=sink_queue)):
            caller = await RawCaller(connection, broker.username).open()
            message_id = str(uuid.uuid4())
            for _ in range(2):  # handled and answered twice, as after a redelivery
                reply = await caller.call(
                    "dukcapil.penduduk-twice.v1.get-by-nik",
                    orjson.dumps({"nik": NIK}),
                    caller.properties("get-by-nik", message_id=message_id),
                )
                assert reply_of(reply)[0] == 200
            assert await adapter.audit.flush(5)
            for _ in range(100):
                async with store.engine.connect() as db:
                    rows = (
                        await db.execute(
                            select(AuditRecord.event).where(AuditRecord.service == "penduduk-twice")
                        )
                    ).all()
                if rows:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # a second record would be stored by now
            async with store.engine.connect() as db:
                rows = (
                    await db.execute(
                        select(AuditRecord.event).where(AuditRecord.service == "penduduk-twice")
                    )
                ).all()
    finally:
        await connection.close()
        await store.close()
    assert len(rows) == 1, rows
    assert orjson.loads(rows[0][0])["message_id"] == message_id


# --- a full buffer: fail open (drop and count) or fail closed (stop taking requests) ---


@contextlib.asynccontextmanager
async def audit_exchange_gone(broker: Settings) -> AsyncIterator[None]:
    """No ``splp.audit`` exchange (so no confirm) until the block ends."""
    connection = await aiormq.connect(broker.broker_url)
    try:
        channel = await connection.channel()
        await channel.exchange_delete(AUDIT_EXCHANGE)
        try:
            yield
        finally:
            await channel.exchange_declare(AUDIT_EXCHANGE, exchange_type="topic", durable=True)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def full_buffer_adapter(
    broker: Settings, service: str, *, fail_closed: bool
) -> AsyncIterator[Adapter]:
    settings = broker.model_copy(update={"audit_buffer": 5, "audit_fail_closed": fail_closed})
    adapter = Adapter(
        echo_descriptor(service=service), HANDLERS, settings, declare_topology=True, prefetch=20
    )
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop(grace=5)
        connection = await aiormq.connect(broker.broker_url)
        try:
            channel = await connection.channel()
            await channel.queue_purge(adapter.queue)
        finally:
            await connection.close()


async def calls(client: Client, adapter: Adapter, ids: range, timeout: float) -> list[Any]:
    return await asyncio.gather(
        *(
            client.call("uji", adapter.descriptor.ref, "echo", {"id": i}, timeout=timeout)
            for i in ids
        ),
        return_exceptions=True,
    )


async def test_a_full_audit_buffer_drops_and_counts_the_oldest_events(broker: Settings) -> None:
    async with (
        full_buffer_adapter(broker, "echo-fail-open", fail_closed=False) as adapter,
        Client(broker) as client,
    ):
        await client.call("uji", adapter.descriptor.ref, "echo", {"id": 0})
        async with audit_exchange_gone(broker):
            results = await calls(client, adapter, range(1, 31), timeout=5)
            assert all(isinstance(r, dict) for r in results), results
            assert adapter.audit.dropped >= 20
            assert adapter.metrics.value("splp_audit_events_dropped_total") == float(
                adapter.audit.dropped
            )
        assert "splp_audit_events_dropped_total" in adapter.metrics.render()


async def fill_the_buffer(broker: Settings, client: Client, adapter: Adapter) -> None:
    """Five answered calls whose events wait unconfirmed (no ``splp.audit`` exchange): the
    fail-closed adapter puts the sixth back in the queue and stops consuming."""
    ref = adapter.descriptor.ref
    for i in range(1, 6):  # answered: their events fill the buffer
        assert (await client.call("uji", ref, "echo", {"id": i}))["id"] == i
    # the reply leaves before its event is buffered: wait for the fifth event
    for _ in range(100):
        if adapter.audit.full:
            break
        await asyncio.sleep(0.02)
    assert adapter.audit.full
    with pytest.raises(RequestTimeout):  # put back in the queue, not answered
        await client.call("uji", ref, "echo", {"id": 6}, timeout=1.5)
    await wait_for_consumers(broker, adapter.queue, 0)  # it stopped consuming


async def test_a_full_audit_buffer_stops_a_fail_closed_adapter_and_drops_nothing(
    broker: Settings,
) -> None:
    async with (
        full_buffer_adapter(broker, "echo-fail-closed", fail_closed=True) as adapter,
        Client(broker) as client,
    ):
        ref = adapter.descriptor.ref
        await client.call("uji", ref, "echo", {"id": 0})
        # the first call's event confirmed first: else, sent back when its publish fails, it
        # would take a place in the buffer and the fifth call would already be put back
        assert await adapter.audit.flush(5)
        async with audit_exchange_gone(broker):
            await fill_the_buffer(broker, client, adapter)
            assert adapter.audit.dropped == 0
            assert adapter.metrics.value("splp_audit_events_dropped_total") == 0.0
            assert adapter.audit.backlog >= 5
        # the broker confirms the buffer, and the adapter takes requests again
        reply = await client.call("uji", ref, "echo", {"id": 7}, timeout=10)
        assert reply["id"] == 7
        assert await adapter.audit.flush(5)
        assert adapter.audit.dropped == 0


async def test_an_error_while_consuming_again_does_not_leave_the_adapter_paused(
    broker: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resumer runs under ``keep_running``: a ``ChannelInvalidStateError`` (a
    ``RuntimeError``) from the channel as the adapter consumes again after a full audit
    buffer once left it paused for good, its queue without a consumer."""
    async with (
        full_buffer_adapter(broker, "echo-resume-error", fail_closed=True) as adapter,
        Client(broker) as client,
    ):
        ref = adapter.descriptor.ref
        await client.call("uji", ref, "echo", {"id": 0})
        assert await adapter.audit.flush(5)
        channel = adapter._channel
        assert channel is not None
        consume = channel.basic_consume
        failures: list[str] = []

        async def consume_failing_once(*args: Any, **kwargs: Any) -> Any:
            if not failures:  # the resumer, the only one to consume on this channel again
                failures.append("raised")
                raise aiormq.exceptions.ChannelInvalidStateError("channel closing")
            return await consume(*args, **kwargs)

        monkeypatch.setattr(channel, "basic_consume", consume_failing_once)
        loop = "adapter resume"
        before = adapter.metrics.value("splp_background_restarts_total", loop=loop) or 0.0
        async with audit_exchange_gone(broker):
            await fill_the_buffer(broker, client, adapter)
        reply = await client.call("uji", ref, "echo", {"id": 7}, timeout=10)
        assert reply["id"] == 7
        assert failures == ["raised"]
        assert adapter.metrics.value("splp_background_restarts_total", loop=loop) == before + 1
