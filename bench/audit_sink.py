"""Audit sink throughput: events stored per second, on SQLite and on PostgreSQL.

Publishes N adapter events to ``splp.audit`` in a throw-away vhost (messages of 256
events, as adapters batch them under load), then runs the sink and times it from start
until every event is committed in the hash chain and acknowledged::

    .venv/bin/python bench/audit_sink.py --events 100000
    .venv/bin/python bench/audit_sink.py --events 50000 --per-message 1

PostgreSQL: ``SPLP_BENCH_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``);
a database ``splp_bench_<random>`` is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import aiormq
import asyncpg
import httpx
from aiormq import spec
from yarl import URL

from splp.audit import AuditSink, AuditStore, verify
from splp.bus.audit_events import audit_event, audit_routing_key
from splp.bus.names import AUDIT_EXCHANGE
from splp.bus.wire import dumps
from splp.settings import Settings

POSTGRES = os.environ.get("SPLP_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def make_events(n: int) -> list[dict[str, object]]:
    return [
        audit_event(
            "response",
            "adapter:dukcapil.penduduk.v1",
            theme="kependudukan",
            publisher="dukcapil",
            service="penduduk",
            major=1,
            operation="get-by-nik",
            requester=f"od-{i % 7}",
            request_bytes=40,
            status=200,
            duration_ms=1.25,
            response_bytes=300,
        )
        for i in range(n)
    ]


async def publish(url: str, events: list[dict[str, object]], per_message: int) -> None:
    connection = await aiormq.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    await channel.exchange_declare(AUDIT_EXCHANGE, exchange_type="topic", durable=True)
    await channel.queue_declare(
        "splp.audit.sink", durable=True, arguments={"x-queue-type": "classic"}
    )
    await channel.queue_bind("splp.audit.sink", AUDIT_EXCHANGE, routing_key="#")
    confirms = []
    for i in range(0, len(events), per_message):
        chunk = events[i : i + per_message]
        confirms.append(
            channel.basic_publish(
                dumps(chunk),
                exchange=AUDIT_EXCHANGE,
                routing_key=audit_routing_key(chunk[0]),
                # as the emitter does: the broker checks user_id, the sink records it
                properties=spec.Basic.Properties(delivery_mode=2, user_id=URL(url).user),
            )
        )
        if len(confirms) >= 500:
            await asyncio.gather(*confirms)
            confirms = []
    await asyncio.gather(*confirms)
    await connection.close()


async def run_one(settings: Settings, store_url: str, n: int, per_message: int) -> float:
    await publish(settings.broker_url, make_events(n), per_message)
    store = AuditStore(store_url)
    await store.migrate()
    # the bench's events name publisher dukcapil but come from the broker's administrator
    trusting = settings.model_copy(update={"audit_trusted_senders": settings.username})
    sink = AuditSink(store, settings.broker_url, settings=trusting)
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(sink.run(stop))
    while True:
        if await store.count() >= n:
            break
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    if os.environ.get("SPLP_BENCH_DEBUG"):
        print(sink.metrics.render())
    verdict = await verify(store)
    assert verdict.ok and verdict.records == n, verdict
    await store.close()
    return n / elapsed


async def main(n: int, per_message: int) -> None:
    base = Settings()
    url = httpx.URL(base.management_url)
    async with httpx.AsyncClient(
        base_url=str(url.copy_with(username=None, password=None)),
        auth=(url.username or "guest", url.password or "guest"),
    ) as management:
        for engine in ("sqlite", "postgresql"):
            vhost = f"splp-bench-{uuid.uuid4().hex[:8]}"
            path = quote(vhost, safe="")
            await management.put(f"/api/vhosts/{path}")
            await management.put(
                f"/api/permissions/{path}/{url.username or 'guest'}",
                json={"configure": ".*", "write": ".*", "read": ".*"},
            )
            try:
                if engine == "sqlite":
                    with tempfile.TemporaryDirectory() as tmp:
                        db = f"sqlite+aiosqlite:///{Path(tmp) / 'audit.db'}"
                        rate = await run_one(Settings(vhost=vhost), db, n, per_message)
                else:
                    name = f"splp_bench_{uuid.uuid4().hex[:8]}"
                    admin = await asyncpg.connect(POSTGRES)
                    await admin.execute(f'CREATE DATABASE "{name}"')
                    db = (
                        POSTGRES.rsplit("/", 1)[0].replace(
                            "postgresql://", "postgresql+asyncpg://", 1
                        )
                        + f"/{name}"
                    )
                    try:
                        rate = await run_one(Settings(vhost=vhost), db, n, per_message)
                    finally:
                        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                        await admin.close()
            finally:
                await management.delete(f"/api/vhosts/{path}")
            print(f"{engine:10} {n} events, {per_message}/message: {rate:,.0f} events/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--per-message", type=int, default=256)
    options = parser.parse_args()
    asyncio.run(main(options.events, options.per_message))
