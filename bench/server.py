"""The server half of one scenario, run in its own process: ``python -m bench.server SCENARIO``.

It prints one line ``ready <json>`` on stdout once it serves, then runs until its stdin
closes (the benchmark closes it; it also closes when the benchmark dies), or SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import logging
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aio_pika
import aiormq
import orjson

from bench.common import (
    AUDIT_THEME,
    FASTSTREAM_QUEUE,
    HANDLER_WAIT,
    HTTP_PATH,
    OPERATION,
    PREFETCH,
    RAW_QUEUE,
    REPLICA_COUNTS,
    REPLICA_PREFETCH,
    SERVICE_AUDIT,
    SERVICE_COUNTS,
    SERVICE_GATEWAY,
    SERVICE_HTTP,
    SERVICE_PYTHON,
    SERVICES_PER_CONNECTION,
    THEME,
    echo_descriptor,
    run,
    scale_services,
)
from bench.echo_app import echo_app
from bench.gateway import gateway_server
from splp.adapters import Adapter, HttpAdapterConfig, Request, http_adapter
from splp.adapters.http_config import HttpOperation
from splp.bus.names import AUDIT_EXCHANGE, AUDIT_SINK_QUEUE
from splp.http_server import serve_app
from splp.settings import Settings

Info = dict[str, Any]


@contextlib.asynccontextmanager
async def raw_server(settings: Settings) -> AsyncIterator[Info]:
    """The floor: an aio-pika consumer that publishes the decoded-and-encoded body back."""
    connection = await aio_pika.connect(settings.broker_url)
    try:
        channel = await connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=PREFETCH)
        queue = await channel.declare_queue(RAW_QUEUE, durable=True)
        exchange = channel.default_exchange

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            body = orjson.dumps(orjson.loads(message.body))
            reply = aio_pika.Message(
                body, correlation_id=message.correlation_id, content_type="application/json"
            )
            # not mandatory, as the SPLP adapter's reply (a returned reply has no one to go to)
            await exchange.publish(reply, routing_key=message.reply_to or "", mandatory=False)
            await message.ack()

        await queue.consume(on_message)
        yield {}
    finally:
        await connection.close()


async def echo(payload: Any, request: Request) -> Any:
    return payload


async def wait_then_echo(payload: Any, request: Request) -> Any:
    await asyncio.sleep(HANDLER_WAIT)
    return payload


class SharedConnection:
    """Stands in for an adapter's own broker connection, so that the adapters of the
    services scenarios share one AMQP connection per ``SERVICES_PER_CONNECTION``: this
    broker allows 1,024 file descriptors, fewer than 1,000 connections and the rest.
    (In production each agency's adapter has its own; a broker for 1,000 of them needs a
    higher ``ulimit -n``.) It does not reconnect: a lost broker fails the benchmark."""

    def __init__(self, connection: aiormq.abc.AbstractConnection, adapter: Adapter) -> None:
        self.connection = connection
        self.adapter = adapter

    async def start(self) -> None:
        await self.adapter._on_ready(self.connection)

    async def close(self) -> None:
        """The adapter's channels close with the shared connection."""


@contextlib.asynccontextmanager
async def adapters(
    settings: Settings,
    services: list[str],
    theme: str = THEME,
    *,
    replica: bool = False,
    shared: bool = False,
) -> AsyncIterator[Info]:
    """One SPLP adapter with a Python handler per service, started 50 at a time; with
    ``shared``, over one connection per ``SERVICES_PER_CONNECTION`` adapters."""
    handler, prefetch = (wait_then_echo, REPLICA_PREFETCH) if replica else (echo, PREFETCH)
    started: list[Adapter] = []
    connections: list[aiormq.abc.AbstractConnection] = []
    try:
        for first in range(0, len(services), 50):
            batch = [
                Adapter(
                    echo_descriptor(service, theme),
                    {OPERATION: handler},
                    settings,
                    prefetch=prefetch,
                    declare_topology=True,
                )
                for service in services[first : first + 50]
            ]
            if shared:
                for adapter in batch:
                    if len(connections) * SERVICES_PER_CONNECTION <= len(started):
                        connections.append(await aiormq.connect(settings.broker_url))
                    adapter._connection = SharedConnection(connections[-1], adapter)  # type: ignore[assignment]
                    started.append(adapter)
            else:
                started += batch
            await asyncio.gather(*(adapter.start() for adapter in batch))
        yield {}
    finally:
        await asyncio.gather(*(adapter.stop(grace=5) for adapter in started))
        await asyncio.gather(*(connection.close() for connection in connections))


def splp_server(settings: Settings) -> contextlib.AbstractAsyncContextManager[Info]:
    """The SPLP adapter runtime with a Python handler."""
    return adapters(settings, [SERVICE_PYTHON])


def splp_audit_server(settings: Settings) -> contextlib.AbstractAsyncContextManager[Info]:
    """The same, in the theme whose audit events the bench's sink stores."""
    return adapters(settings, [SERVICE_AUDIT], AUDIT_THEME)


@contextlib.asynccontextmanager
async def audit_sink_server(settings: Settings) -> AsyncIterator[Info]:
    """The audit sink on a throw-away SQLite store, bound to ``AUDIT_THEME``'s events only
    (the other scenarios' events are dropped by the broker, as before)."""
    from splp.audit import AuditSink, AuditStore

    connection = await aiormq.connect(settings.broker_url)
    channel = await connection.channel()
    await channel.exchange_declare(AUDIT_EXCHANGE, exchange_type="topic", durable=True)
    await channel.queue_declare(AUDIT_SINK_QUEUE, durable=True)
    await channel.queue_bind(AUDIT_SINK_QUEUE, AUDIT_EXCHANGE, routing_key=f"*.{AUDIT_THEME}.#")
    await connection.close()
    with tempfile.TemporaryDirectory(prefix="splp-bench-audit-") as folder:
        store = AuditStore(f"sqlite+aiosqlite:///{Path(folder) / 'audit.db'}")
        stop = asyncio.Event()
        sink = AuditSink(store, settings.broker_url, settings=settings)
        task = asyncio.create_task(sink.run(stop))
        try:
            yield {}
        finally:
            stop.set()
            await task
            print(f"audit sink: {await store.count()} events stored", file=sys.stderr)
            await store.close()


@contextlib.asynccontextmanager
async def http_stub() -> AsyncIterator[Info]:
    async with serve_app(echo_app) as url:
        yield {"url": url}


@contextlib.asynccontextmanager
async def splp_http_server(settings: Settings) -> AsyncIterator[Info]:
    """The config-driven HTTP adapter in front of the HTTP stub (both in this process)."""
    async with http_stub() as info:
        config = HttpAdapterConfig(
            descriptor=Path("bench-echo-http.yaml"),  # not read: the descriptor is passed in
            base_url=info["url"],
            prefetch=PREFETCH,
            operations={OPERATION: HttpOperation(method="POST", path=HTTP_PATH)},
        )
        adapter = http_adapter(
            config, echo_descriptor(SERVICE_HTTP), settings, declare_topology=True
        )
        await adapter.start()  # the adapter closes its HTTP client when it stops
        try:
            yield info
        finally:
            await adapter.stop(grace=5)


@contextlib.asynccontextmanager
async def faststream_server(settings: Settings) -> AsyncIterator[Info]:
    """A FastStream subscriber; its return value is FastStream's RPC reply."""
    from faststream.rabbit import Channel, RabbitBroker, RabbitQueue

    # logger=None: no per-message log lines, as SPLP writes none (it emits audit events).
    broker = RabbitBroker(
        settings.broker_url, default_channel=Channel(prefetch_count=PREFETCH), logger=None
    )

    @broker.subscriber(RabbitQueue(FASTSTREAM_QUEUE, durable=True))
    async def fs_echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    await broker.start()
    try:
        yield {}
    finally:
        await broker.stop()


def _scale(scenario: str) -> Callable[[Settings], contextlib.AbstractAsyncContextManager[Info]]:
    replica = scenario.startswith("replicas-")
    return lambda settings: adapters(
        settings, scale_services(scenario), replica=replica, shared=not replica
    )


SERVERS: dict[str, Callable[[Settings], contextlib.AbstractAsyncContextManager[Info]]] = {
    "aio-pika": raw_server,
    "splp": splp_server,
    "splp-audit": splp_audit_server,
    "splp-cluster": splp_server,  # the same adapter, on the cluster with quorum queues
    "audit-sink": audit_sink_server,
    "splp-http": splp_http_server,
    "http": lambda settings: http_stub(),
    "faststream": faststream_server,
    "gateway": gateway_server,
    "gateway-echo": lambda settings: adapters(settings, [SERVICE_GATEWAY]),
    # services-N: N adapters in one process; replicas-N: one replica (N such processes)
    **{f"services-{n}": _scale(f"services-{n}") for n in SERVICE_COUNTS},
    **{f"replicas-{n}": _scale(f"replicas-{n}") for n in REPLICA_COUNTS},
}


async def wait_for_stop() -> None:
    """Return when stdin reaches EOF or on SIGTERM/SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    class _EofProtocol(asyncio.Protocol):
        def connection_lost(self, exc: Exception | None) -> None:
            stop.set()

    transport, _ = await loop.connect_read_pipe(_EofProtocol, sys.stdin)
    try:
        await stop.wait()
    finally:
        transport.close()


async def serve(scenario: str, settings: Settings, profile: Path | None) -> None:
    async with SERVERS[scenario](settings) as info:
        profiler = cProfile.Profile() if profile else None
        sys.stdout.write("ready " + json.dumps(info) + "\n")
        sys.stdout.flush()
        if profiler is not None:
            profiler.enable()
        try:
            await wait_for_stop()
        finally:
            if profiler is not None and profile is not None:
                profiler.disable()
                profiler.dump_stats(profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=sorted(SERVERS))
    parser.add_argument("--amqp-url", required=True)
    parser.add_argument("--vhost", required=True)
    parser.add_argument("--amqp-urls", default="", help="a cluster's nodes (SPLP_AMQP_URLS)")
    parser.add_argument("--uvloop", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--profile", type=Path, help="write cProfile stats of serving here")
    args = parser.parse_args()
    # with a cluster's nodes: failover between them, and quorum queues
    settings = Settings(amqp_url=args.amqp_url, amqp_urls=args.amqp_urls, vhost=args.vhost)
    # one line per adapter would drown the benchmark's output (1,000 adapters)
    logging.getLogger("splp").setLevel(logging.ERROR)
    run(serve(args.scenario, settings, args.profile), args.uvloop)


if __name__ == "__main__":
    main()
