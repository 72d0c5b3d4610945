"""The sink's writer is supervised (``splp.retry.keep_running``): an error of the store that
is neither an outage nor a refusal of the data neither ends the writer nor loses its
batch. The batch goes back to the front of the waiting events, unacknowledged, and is
written on the writer's next run: every event ends stored exactly once, in a chain that
verifies, on a real broker and a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import pytest
from sqlalchemy import func, select

from splp.audit import AuditRecord, AuditSink, AuditStore, verify
from splp.audit.store import Entry
from splp.metrics import Metrics
from splp.settings import Settings
from tests.audit.conftest import events, publish, trusting
from tests.audit.test_sink import queue_depth, running, wait_count

MESSAGES = 60
PER_MESSAGE = 5


class FaultyStore(AuditStore):
    """A real store whose ``append`` raises a ``RuntimeError`` (a bug's error, not an
    outage) twice: first before writing a batch, then after writing the next one."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.faults = ["before writing", "after writing"]
        self.appends = 0

    async def append(self, screened: Iterable[Entry]) -> int:
        self.appends += 1
        if self.appends > 1 and self.faults and self.faults[0] == "before writing":
            raise RuntimeError(self.faults.pop(0))
        stored = await super().append(screened)
        if self.appends > 3 and self.faults:
            raise RuntimeError(self.faults.pop(0))
        return stored


def restarts() -> float:
    return Metrics().value("splp_background_restarts_total", loop="audit sink writer") or 0.0


async def test_a_store_error_neither_ends_the_writer_nor_loses_its_batch(
    broker: Settings, sink_queue: str, audit_store: AuditStore
) -> None:
    sent = events(MESSAGES * PER_MESSAGE)
    messages = [sent[i : i + PER_MESSAGE] for i in range(0, len(sent), PER_MESSAGE)]
    store = FaultyStore(audit_store.url)
    sink = AuditSink(
        store, broker.broker_url, queue=sink_queue, batch_size=20, settings=trusting(broker)
    )
    before = restarts()
    async with running(sink):
        await publish(broker, messages[: MESSAGES // 2])
        await publish(broker, messages[MESSAGES // 2 :])
        assert await wait_count(audit_store, len(sent), timeout=20) == len(sent)
    await store.close()

    assert store.faults == []  # both errors happened
    assert restarts() == before + 2
    async with audit_store.engine.connect() as connection:
        stored = (await connection.execute(select(AuditRecord.event_id))).scalars().all()
        assert await connection.scalar(select(func.count()).select_from(AuditRecord)) == len(sent)
    assert sorted(stored) == sorted(event["id"] for event in sent)  # each once
    assert await queue_depth(broker, sink_queue) == 0  # acknowledged once stored
    assert (await verify(audit_store)).ok


class BrokenStore(AuditStore):
    """A real store whose every ``append`` raises (a bug that does not go away)."""

    async def append(self, screened: Iterable[Entry]) -> int:
        raise RuntimeError("always")


async def test_a_sink_whose_store_keeps_failing_still_stops_and_keeps_the_events_queued(
    broker: Settings, sink_queue: str, audit_store: AuditStore, caplog: pytest.LogCaptureFixture
) -> None:
    await publish(broker, [events(PER_MESSAGE) for _ in range(4)])
    store = BrokenStore(audit_store.url)
    sink = AuditSink(
        store, broker.broker_url, queue=sink_queue, settings=trusting(broker), stop_grace=1.0
    )
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    for _ in range(100):  # until the sink holds the messages, unacknowledged
        await asyncio.sleep(0.1)
        if sink._batch is not None and sink._batch.messages == 4:
            break
    with caplog.at_level(logging.ERROR, logger="splp.audit.sink"):
        stop.set()
        await asyncio.wait_for(task, 10)  # before: never returned
    await store.close()
    assert "stopping with 20 event(s) not stored after 1 s" in caplog.text
    assert await queue_depth(broker, sink_queue) == 4  # back in the queue, for the next sink
