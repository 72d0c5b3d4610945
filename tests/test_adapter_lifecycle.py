"""Adapters as separate processes: a replica killed mid-load, and a graceful SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiormq
import pytest

from splp.bus import Client
from splp.bus.management import Management
from splp.bus.names import queue_for
from splp.errors import ConnectionLost, RequestTimeout
from splp.settings import Settings
from tests.services import HANDLERS, echo_descriptor

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture
async def spawn(broker: Settings) -> AsyncIterator[Callable[..., object]]:
    processes: list[asyncio.subprocess.Process] = []

    async def start(service: str, prefetch: int) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.replica",
            broker.vhost,
            service,
            str(prefetch),
            cwd=ROOT,
            stderr=asyncio.subprocess.PIPE,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def wait_for_consumers(broker: Settings, queue: str, count: int) -> None:
    """Wait until ``queue`` has ``count`` consumers (a passive declare reports it at once)."""
    connection = await aiormq.connect(broker.broker_url)
    try:
        for _ in range(200):
            channel = await connection.channel()
            try:
                declared = await channel.queue_declare(queue, passive=True)
            except aiormq.exceptions.ChannelNotFoundEntity:
                pass  # the replica has not declared it yet
            else:
                if declared.consumer_count == count:
                    return
                await channel.close()
            await asyncio.sleep(0.05)
        pytest.fail(f"{queue} never reached {count} consumers")
    finally:
        await connection.close()


async def test_killed_replica_leaves_its_requests_to_the_other(broker: Settings, spawn) -> None:
    descriptor = echo_descriptor(service="echo-replicas")
    queue = queue_for(descriptor.ref)
    victim = await spawn(descriptor.service, 20)
    await wait_for_consumers(broker, queue, 1)
    survivor = await spawn(descriptor.service, 20)
    await wait_for_consumers(broker, queue, 2)

    async with Client(broker) as client:
        calls = [
            asyncio.create_task(
                client.call("uji", descriptor.ref, "echo", {"id": i, "delay": 0.3}, timeout=30)
            )
            for i in range(300)
        ]
        # kill the victim mid-load: once it has answered, it holds a full prefetch window
        # of unacked requests (the queue has hundreds more)
        for _ in range(300):
            if any(c.done() and c.result()["pid"] == victim.pid for c in calls):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the victim never answered")
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
        replies = await asyncio.gather(*calls)

    assert [r["id"] for r in replies] == list(range(300))
    by_survivor = [r for r in replies if r["pid"] == survivor.pid]
    redelivered = [r for r in by_survivor if r["redelivered"]]
    assert redelivered, "none of the victim's unacked requests was answered by the survivor"


async def test_sigterm_finishes_requests_in_flight_then_exits(broker: Settings, spawn) -> None:
    descriptor = echo_descriptor(service="echo-sigterm")
    queue = queue_for(descriptor.ref)
    replica = await spawn(descriptor.service, 10)
    await wait_for_consumers(broker, queue, 1)

    async with Client(broker) as client:
        calls = [
            asyncio.create_task(
                client.call("uji", descriptor.ref, "echo", {"id": i, "delay": 1.0}, timeout=30)
            )
            for i in range(10)
        ]
        await asyncio.sleep(0.3)  # all ten are being handled
        replica.send_signal(signal.SIGTERM)
        replies = await asyncio.gather(*calls)
        assert [r["id"] for r in replies] == list(range(10))
        assert {r["pid"] for r in replies} == {replica.pid}
        assert await asyncio.wait_for(replica.wait(), 10) == 0
        await wait_for_consumers(broker, queue, 0)
        # nothing consumed after the signal: a new call finds no one to answer it
        late = asyncio.create_task(
            client.call("uji", descriptor.ref, "echo", {"id": 11}, timeout=0.5)
        )
        with pytest.raises(RequestTimeout):
            await late


async def test_adapter_reconnects_after_losing_its_connection(
    broker: Settings, make_adapter
) -> None:
    descriptor = echo_descriptor(service="echo-reconnect")
    adapter = await make_adapter(descriptor, HANDLERS)
    async with Client(broker) as client, Management(broker) as management:
        assert (await client.call("uji", descriptor.ref, "echo", {"id": 1}))["id"] == 1
        for _ in range(100):  # the management API lists a connection some seconds after it opens
            if await management.close_connections(broker.vhost, name=adapter.source):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the adapter's connection never appeared in the management API")
        reply = await client.call("uji", descriptor.ref, "echo", {"id": 2}, timeout=15)
        assert reply["id"] == 2


@pytest.mark.chaos
async def test_client_and_adapter_survive_a_broker_restart(broker: Settings, make_adapter) -> None:
    """``rabbitmqctl stop_app``/``start_app`` under load: calls fail fast, then resume."""
    descriptor = echo_descriptor(service="echo-restart")
    await make_adapter(descriptor, HANDLERS)
    async with Client(broker) as client:
        assert (await client.call("uji", descriptor.ref, "echo", {"id": 0}))["id"] == 0
        in_flight = [
            asyncio.create_task(
                client.call("uji", descriptor.ref, "echo", {"id": i, "delay": 5}, timeout=60)
            )
            for i in range(20)
        ]
        await asyncio.sleep(0.2)
        await rabbitmqctl("stop_app")
        try:
            results = await asyncio.wait_for(asyncio.gather(*in_flight, return_exceptions=True), 10)
            assert all(isinstance(r, ConnectionLost) for r in results), results
        finally:
            await rabbitmqctl("start_app")
        loop = asyncio.get_running_loop()
        started = loop.time()
        reply = await client.call("uji", descriptor.ref, "echo", {"id": 1}, timeout=30)
        assert reply["id"] == 1
        assert loop.time() - started < 15


async def rabbitmqctl(command: str, *args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl",
        command,
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    if command == "start_app":
        waiter = await asyncio.create_subprocess_exec("rabbitmqctl", "await_startup")
        assert await waiter.wait() == 0


@pytest.mark.chaos
async def test_a_call_to_a_blocked_broker_times_out_at_its_deadline(
    broker: Settings, make_adapter
) -> None:
    """Under a memory alarm the broker stops reading from publishers: no call may hang."""
    descriptor = echo_descriptor(service="echo-blocked")
    await make_adapter(descriptor, HANDLERS)
    async with Client(broker) as client:
        assert (await client.call("uji", descriptor.ref, "echo", {"id": 0}))["id"] == 0
        await rabbitmqctl("set_vm_memory_high_watermark", "0.000001")
        try:
            await asyncio.sleep(1)  # the alarm is raised on the broker's next memory check
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(RequestTimeout):
                await client.call("uji", descriptor.ref, "echo", {"id": 1}, timeout=1)
            assert loop.time() - started < 2
        finally:
            await rabbitmqctl("set_vm_memory_high_watermark", "0.4")  # RabbitMQ's default


async def test_an_error_during_a_reconnect_does_not_end_the_reconnects(
    broker: Settings, make_adapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ChannelInvalidStateError (a RuntimeError) while the adapter re-opens its channels,
    as when the new connection closes under it, once ended its reconnect task for good."""
    descriptor = echo_descriptor(service="echo-reconnect-error")
    adapter = await make_adapter(descriptor, HANDLERS)
    attach = adapter.audit.attach
    failures: list[str] = []

    async def attach_failing_once(connection: Any) -> None:
        if not failures:
            failures.append("raised")
            raise aiormq.exceptions.ChannelInvalidStateError("connection closed")
        await attach(connection)

    monkeypatch.setattr(adapter.audit, "attach", attach_failing_once)
    loop = "broker connection"  # the kind of loop: no party or service in a label
    before = adapter.metrics.value("splp_background_restarts_total", loop=loop) or 0.0
    async with Client(broker) as client, Management(broker) as management:
        for _ in range(100):
            if await management.close_connections(broker.vhost, name=adapter.source):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the adapter's connection never appeared in the management API")
        reply = await client.call("uji", descriptor.ref, "echo", {"id": 3}, timeout=15)
        assert reply["id"] == 3
    assert failures == ["raised"]
    assert adapter.metrics.value("splp_background_restarts_total", loop=loop) == before + 1
