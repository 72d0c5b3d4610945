"""The audit sink stopped while adapters serve: their events wait in the sink's durable
queue, and when the sink comes back every one of them is stored, none twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiormq
import httpx
import pytest
from sqlalchemy import func, select

from splp.adapters import Adapter
from splp.audit import AuditRecord, AuditStore, verify
from splp.bus import Client
from splp.settings import Settings
from tests.logcapture import PAYLOAD_MARKER
from tests.services import HANDLERS, echo_descriptor

CALLS_WHILE_DOWN = 300
TIMEOUT = 30.0


class SinkProcess:
    """``splp audit sink`` on ``queue``, as a process of its own."""

    def __init__(self, broker: Settings, queue: str, store_url: str) -> None:
        # the backlog spans several transactions when the sink returns
        self.command = [sys.executable, "-m", "splp", "audit", "sink", "--queue", queue]
        self.command += ["--batch-size", "40"]
        self.env = {
            **os.environ,
            "SPLP_VHOST": broker.vhost,
            "SPLP_AMQP_URL": broker.amqp_url,
            "SPLP_AUDIT_DATABASE_URL": store_url,
            "SPLP_BROKER_EVENTS_VHOST": "",  # the shared broker's events are not this test's
        }
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(*self.command, env=self.env)

    async def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), TIMEOUT)

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()


async def consumers(broker: Settings, queue: str) -> int:
    connection = await aiormq.connect(broker.broker_url)
    try:
        channel = await connection.channel()
        return (await channel.queue_declare(queue, passive=True)).consumer_count or 0
    finally:
        await connection.close()


async def wait_for(check: Callable[[], Awaitable[Any]], expected: Any) -> Any:
    loop = asyncio.get_running_loop()
    end = loop.time() + TIMEOUT
    while True:
        value = await check()
        if value == expected or loop.time() > end:
            return value
        await asyncio.sleep(0.1)


async def queued_events(management: httpx.AsyncClient, broker: Settings, queue: str) -> list[Any]:
    """The events in ``queue``, read through the management API and put back."""
    path = f"/api/queues/{quote(broker.vhost, safe='')}/{quote(queue, safe='')}/get"
    body = {"count": 10_000, "ackmode": "ack_requeue_true", "encoding": "auto"}
    response = await management.post(path, json=body)
    response.raise_for_status()
    return [event for message in response.json() for event in json.loads(message["payload"])]


@pytest.mark.chaos
async def test_events_wait_while_the_sink_is_down_and_none_is_lost_when_it_returns(
    broker: Settings,
    sink_queue: str,
    audit_store: AuditStore,
    management: httpx.AsyncClient,
    make_adapter: Callable[..., Awaitable[Adapter]],
) -> None:
    descriptor = echo_descriptor(service=f"sink-down-{uuid.uuid4().hex[:6]}")
    adapter = await make_adapter(descriptor, HANDLERS)

    async def stored() -> int:
        async with audit_store.engine.connect() as connection:
            query = select(func.count()).where(AuditRecord.service == descriptor.service)
            return int((await connection.execute(query)).scalar_one())

    async def call(client: Client, first: int, n: int) -> None:
        replies = await asyncio.gather(
            *(
                client.call("uji", descriptor.ref, "echo", {"id": i, "note": PAYLOAD_MARKER})
                for i in range(first, first + n)
            )
        )
        assert [r["id"] for r in replies] == list(range(first, first + n))

    sink = SinkProcess(broker, sink_queue, audit_store.url)
    await sink.start()
    try:
        assert await wait_for(lambda: consumers(broker, sink_queue), 1) == 1
        async with Client(broker) as client:
            await call(client, 0, 10)
            assert await wait_for(stored, 10) == 10
            assert await sink.stop() == 0  # stopped
            assert await consumers(broker, sink_queue) == 0
            for first in range(10, 10 + CALLS_WHILE_DOWN, 50):  # the adapter serves on
                await call(client, first, 50)
        assert await adapter.audit.flush(TIMEOUT)
        waiting = await queued_events(management, broker, sink_queue)
        assert len(waiting) == CALLS_WHILE_DOWN
        assert {e["service"] for e in waiting} == {descriptor.service}
        assert await stored() == 10

        await sink.start()  # back
        assert await wait_for(stored, 10 + CALLS_WHILE_DOWN) == 10 + CALLS_WHILE_DOWN
        await asyncio.sleep(1.0)  # anything stored twice would show up now
        assert await stored() == 10 + CALLS_WHILE_DOWN
        assert await sink.stop() == 0
    finally:
        sink.kill()
    async with audit_store.engine.connect() as connection:
        events = (await connection.execute(select(AuditRecord.event))).scalars().all()
    message_ids = {json.loads(e)["message_id"] for e in events if descriptor.service in e}
    assert len(message_ids) == 10 + CALLS_WHILE_DOWN  # one event per call, every call
    assert (await verify(audit_store)).ok
    assert await wait_for(lambda: queued_events(management, broker, sink_queue), []) == []
