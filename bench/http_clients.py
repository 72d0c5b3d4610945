"""Async HTTP clients against one local echo stub, at 64 calls in flight.

The stub is the benchmark's ASGI echo app on uvicorn (``python -m bench.server http``),
in its own process; every client posts the same JSON body and decodes the reply::

    .venv/bin/python -m bench.http_clients [--calls 5000] [--rounds 3] [--only aiohttp,httpx]

Candidates missing from the environment are skipped (``pip install aiosonic pyreqwest
httpx-aiohttp`` to measure them; only aiohttp is a project dependency).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import orjson
import psutil

from bench.common import HTTP_PATH, run
from bench.measure import concurrent, percentile_ms
from bench.processes import ServerProcess

Post = Callable[[dict[str, Any]], Awaitable[Any]]
JSON = {"content-type": "application/json"}


@contextlib.asynccontextmanager
async def httpx_client(url: str, limit: int) -> AsyncIterator[Post]:
    import httpx

    limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
    async with httpx.AsyncClient(base_url=url, limits=limits) as client:

        async def post(body: dict[str, Any]) -> Any:
            response = await client.post(HTTP_PATH, content=orjson.dumps(body), headers=JSON)
            return orjson.loads(response.content)

        yield post


@contextlib.asynccontextmanager
async def httpx_aiohttp_client(url: str, limit: int) -> AsyncIterator[Post]:
    import aiohttp
    import httpx
    from httpx_aiohttp import AiohttpTransport

    transport = AiohttpTransport(
        client=lambda: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit))
    )
    async with httpx.AsyncClient(base_url=url, transport=transport) as client:

        async def post(body: dict[str, Any]) -> Any:
            response = await client.post(HTTP_PATH, content=orjson.dumps(body), headers=JSON)
            return orjson.loads(response.content)

        yield post


@contextlib.asynccontextmanager
async def aiohttp_client(url: str, limit: int) -> AsyncIterator[Post]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=limit)
    async with aiohttp.ClientSession(url, connector=connector) as session:

        async def post(body: dict[str, Any]) -> Any:
            async with session.post(HTTP_PATH, data=orjson.dumps(body), headers=JSON) as response:
                return orjson.loads(await response.read())

        yield post


@contextlib.asynccontextmanager
async def aiosonic_client(url: str, limit: int) -> AsyncIterator[Post]:
    import aiosonic
    from aiosonic.connectors import TCPConnector
    from aiosonic.pools import PoolConfig

    connector = TCPConnector(pool_configs={":default": PoolConfig(size=limit)})
    client = aiosonic.HTTPClient(connector=connector)
    target = url + HTTP_PATH

    async def post(body: dict[str, Any]) -> Any:
        response = await client.post(target, data=orjson.dumps(body), headers=JSON)
        return orjson.loads(await response.content())

    try:
        yield post
    finally:
        await client.connector.cleanup()


@contextlib.asynccontextmanager
async def pyreqwest_client(url: str, limit: int) -> AsyncIterator[Post]:
    from pyreqwest.client import ClientBuilder

    builder = ClientBuilder().base_url(url).max_connections(limit)
    client = builder.timeout(timedelta(seconds=30)).build()
    async with client:

        async def post(body: dict[str, Any]) -> Any:
            request = client.post(HTTP_PATH).header("content-type", "application/json")
            response = await request.body_bytes(orjson.dumps(body)).build().send()
            return orjson.loads(bytes(await response.bytes()))

        yield post


CLIENTS: dict[str, Callable[[str, int], contextlib.AbstractAsyncContextManager[Post]]] = {
    "aiohttp": aiohttp_client,
    "httpx": httpx_client,
    "httpx+aiohttp-transport": httpx_aiohttp_client,
    "aiosonic": aiosonic_client,
    "pyreqwest": pyreqwest_client,
}


Row = tuple[str, list[float], float, float, float]


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def bench(args: argparse.Namespace) -> list[Row]:
    """Each client in turn against one stub process; CPU is this process's, all threads."""
    stub = ServerProcess("http", ["--amqp-url", "amqp://unused", "--vhost", "unused"])
    await stub.start()
    rows: list[Row] = []
    me = psutil.Process()
    try:
        url = stub.info["url"]
        for name in args.only:
            try:
                client = CLIENTS[name](url, args.concurrency)
                post = await client.__aenter__()
            except ImportError as exc:
                print(f"{name}: skipped ({exc})", file=sys.stderr)
                continue
            try:
                await concurrent(post, args.warmup, args.concurrency)
                cpu_before = _cpu_seconds(me)
                runs = [await concurrent(post, args.calls, args.concurrency)
                        for _ in range(args.rounds)]
                cpu_us = (_cpu_seconds(me) - cpu_before) / (args.calls * args.rounds) * 1e6
            finally:
                await client.__aexit__(None, None, None)
            latencies = sorted(ns for r in runs for ns in r.latencies_ns)
            throughputs = [r.throughput for r in runs]
            rows.append((name, throughputs, percentile_ms(latencies, 50),
                         percentile_ms(latencies, 99), cpu_us))
            print(f"{name}: {statistics.median(throughputs):.0f}/s", file=sys.stderr)
    finally:
        await stub.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.http_clients", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--only", type=lambda s: s.split(","), default=list(CLIENTS))
    parser.add_argument("--uvloop", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    rows = run(bench(args), args.uvloop)
    best = max(statistics.median(t) for _, t, _, _, _ in rows)
    print(f"| client | requests/s (median of {args.rounds}) | x best | p50 ms | p99 ms "
          "| client CPU us/request |")
    print("|---|---|---|---|---|---|")
    for name, throughputs, p50, p99, cpu_us in rows:
        median = statistics.median(throughputs)
        print(f"| {name} | {median:,.0f} | {median / best:.2f} | {p50:.2f} | {p99:.2f} "
              f"| {cpu_us:.0f} |")


if __name__ == "__main__":
    main()
