"""Fixtures of the audit suite, which runs on SQLite and on PostgreSQL like the directory's.

* ``audit_url`` - a fresh database per engine and session (SQLite file or PostgreSQL);
* ``audit_store`` - the migrated audit store, emptied after each test;
* ``sink_queue`` - a queue of its own bound ``#`` to ``splp.audit`` in the test vhost,
  deleted after the test;
* ``events(n)`` - ``n`` valid adapter events.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiormq
import pytest
from aiormq import spec
from sqlalchemy import delete
from yarl import URL

from splp.audit import AuditRecord, AuditStore
from splp.audit.records import AuditAnchor
from splp.bus.audit_events import audit_event, audit_routing_key
from splp.bus.names import AUDIT_EXCHANGE
from splp.bus.wire import dumps
from splp.settings import Settings
from tests.databases import DATABASE_ENGINES, throwaway_database


@pytest.fixture(scope="session", params=DATABASE_ENGINES)
async def audit_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    async with throwaway_database(request.param, tmp_path_factory, "audit") as url:
        yield url


@pytest.fixture
async def audit_store(audit_url: str) -> AsyncIterator[AuditStore]:
    audit = AuditStore(audit_url)
    await audit.migrate()
    try:
        yield audit
    finally:
        async with audit.engine.begin() as connection:
            await connection.execute(delete(AuditRecord))
            await connection.execute(delete(AuditAnchor))
        await audit.close()


def call_event(n: int, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "theme": "kependudukan",
        "publisher": "dukcapil",
        "service": "penduduk",
        "major": 1,
        "operation": "get-by-nik",
        "requester": "dinsos",
        "request_bytes": 30,
        "status": 200,
        "duration_ms": float(n % 50) + 0.5,
        "response_bytes": 120,
    }
    values.update(fields)
    kind = (
        "denied"
        if values["status"] == 403
        else "throttled"
        if values["status"] == 429
        else ("response")
    )
    return audit_event(kind, "adapter:dukcapil.penduduk.v1", **values)


def events(n: int, **fields: Any) -> list[dict[str, Any]]:
    return [call_event(i, **fields) for i in range(n)]


@pytest.fixture
async def sink_queue(broker: Settings) -> AsyncIterator[str]:
    name = f"splp.audit.test-{uuid.uuid4().hex[:8]}"
    connection = await aiormq.connect(broker.broker_url)
    channel = await connection.channel()
    await channel.exchange_declare(AUDIT_EXCHANGE, exchange_type="topic", durable=True)
    await channel.queue_declare(name, durable=True)
    await channel.queue_bind(name, AUDIT_EXCHANGE, routing_key="#")
    try:
        yield name
    finally:
        await channel.queue_delete(name)
        await connection.close()


def trusting(broker: Settings) -> Settings:
    """The sink's settings for a test bench whose adapters and publishers run as the
    broker's administrator (``SPLP_AUDIT_TRUSTED_SENDERS``)."""
    return broker.model_copy(update={"audit_trusted_senders": broker.username})


async def publish(
    broker: Settings,
    messages: list[list[dict[str, Any]] | bytes],
    *,
    user_id: str | None = None,
) -> None:
    """Publish each message (a list of events, or raw bytes) to ``splp.audit``, confirmed,
    with ``user_id`` (the broker's user by default: the broker checks it)."""
    connection = await aiormq.connect(broker.broker_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        for message in messages:
            body = message if isinstance(message, bytes) else dumps(message)
            key = audit_routing_key(message[0]) if isinstance(message, list) else "junk.-.-.-"
            await channel.basic_publish(
                body,
                exchange=AUDIT_EXCHANGE,
                routing_key=key,
                properties=spec.Basic.Properties(
                    delivery_mode=2,
                    message_id=uuid.uuid4().hex,
                    user_id=user_id or URL(broker.broker_url).user,
                ),
            )
    finally:
        await connection.close()


# the directory suite's fixtures, for the audit API mounted in the directory app
from tests.directory.conftest import api, parties, penduduk, store, store_url  # noqa: E402, F401
