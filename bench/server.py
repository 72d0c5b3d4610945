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
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aio_pika
import orjson

from bench.common import (
    FASTSTREAM_QUEUE,
    HTTP_PATH,
    OPERATION,
    PREFETCH,
    RAW_QUEUE,
    SERVICE_HTTP,
    SERVICE_PYTHON,
    echo_descriptor,
    run,
)
from bench.echo_app import echo_app
from splp.adapters import Adapter, HttpAdapterConfig, Request, http_adapter
from splp.adapters.http_config import HttpOperation
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


@contextlib.asynccontextmanager
async def splp_server(settings: Settings) -> AsyncIterator[Info]:
    """The SPLP adapter runtime with a Python handler."""
    adapter = Adapter(
        echo_descriptor(SERVICE_PYTHON),
        {OPERATION: echo},
        settings,
        prefetch=PREFETCH,
        declare_topology=True,
    )
    await adapter.start()
    try:
        yield {}
    finally:
        await adapter.stop(grace=5)


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


SERVERS: dict[str, Callable[[Settings], contextlib.AbstractAsyncContextManager[Info]]] = {
    "aio-pika": raw_server,
    "splp": splp_server,
    "splp-http": splp_http_server,
    "http": lambda settings: http_stub(),
    "faststream": faststream_server,
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
    parser.add_argument("--uvloop", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--profile", type=Path, help="write cProfile stats of serving here")
    args = parser.parse_args()
    settings = Settings(amqp_url=args.amqp_url, vhost=args.vhost)
    run(serve(args.scenario, settings, args.profile), args.uvloop)


if __name__ == "__main__":
    main()
