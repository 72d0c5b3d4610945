"""Broker security events on the real broker: a login with a wrong password and a
permission change end up in the audit trail as ``broker.*`` records, in the hash chain,
with the user, vhost and peer, and without any password."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiormq
import httpx
import orjson
import pytest
from sqlalchemy import select

from splp.audit import AuditRecord, AuditStore, verify
from splp.audit.broker_events import BrokerEvents
from splp.settings import Settings
from tests.logcapture import SECRETS


@pytest.fixture
async def recorder(
    audit_store: AuditStore, management: httpx.AsyncClient
) -> AsyncIterator[BrokerEvents]:
    """The recorder on a queue of its own in vhost "/" (where the plugin publishes)."""
    events_url = Settings(vhost="/").broker_url
    recorder = BrokerEvents(audit_store, events_url, queue=f"splp.test-{uuid.uuid4().hex[:8]}")
    stop = asyncio.Event()
    task = asyncio.create_task(recorder.run(stop))
    try:
        for _ in range(100):  # bound: the queue exists in the management API
            queue = await management.get(f"/api/queues/%2F/{recorder.queue}")
            if queue.status_code == 200:
                break
            await asyncio.sleep(0.05)
        yield recorder
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await management.delete(f"/api/queues/%2F/{recorder.queue}")


async def records_of(store: AuditStore, kind: str, user: str, n: int = 1) -> list[dict[str, Any]]:
    """The stored events of ``kind`` about ``user`` (waits up to 10 s for ``n``)."""
    found: list[dict[str, Any]] = []
    for _ in range(200):
        async with store.engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(AuditRecord.event, AuditRecord.flag).where(AuditRecord.kind == kind)
                )
            ).all()
        found = [orjson.loads(e) for e, flag in rows if user in e and flag is None]
        if len(found) >= n:
            break
        await asyncio.sleep(0.05)
    return found


@pytest.fixture
async def broker_user(
    management: httpx.AsyncClient, broker: Settings
) -> AsyncIterator[tuple[str, str]]:
    name = f"splp-test-{uuid.uuid4().hex[:8]}"
    password = SECRETS.add(f"right-{uuid.uuid4().hex}", "broker password")
    (
        await management.put(f"/api/users/{name}", json={"password": password, "tags": ""})
    ).raise_for_status()
    try:
        yield name, password
    finally:
        await management.delete(f"/api/users/{name}")


async def test_a_wrong_password_is_recorded_without_it(
    recorder: BrokerEvents,
    audit_store: AuditStore,
    broker_user: tuple[str, str],
    broker: Settings,
) -> None:
    name, password = broker_user
    wrong = f"wrong-{uuid.uuid4().hex}"
    url = f"amqp://{name}:{wrong}@127.0.0.1:5672/{quote(broker.vhost, safe='')}"
    with pytest.raises(aiormq.exceptions.AMQPConnectionError):
        await aiormq.connect(url)
    [event] = await records_of(audit_store, "broker.user-authentication-failure", name)
    assert event["user"] == name and event["source"] == "rabbitmq"
    assert event["peer_host"] == "127.0.0.1" and event["auth_mechanism"] == "PLAIN"
    assert name in event["reason"]
    async with audit_store.engine.connect() as connection:
        stored = (await connection.execute(select(AuditRecord))).all()
    assert all(wrong not in str(row) and password not in str(row) for row in stored)
    assert (await verify(audit_store)).ok


async def test_a_permission_change_is_recorded(
    recorder: BrokerEvents,
    audit_store: AuditStore,
    broker_user: tuple[str, str],
    broker: Settings,
    management: httpx.AsyncClient,
) -> None:
    name, _password = broker_user
    path = f"/api/permissions/{quote(broker.vhost, safe='')}/{name}"
    grant = {"configure": "", "write": "^splp\\.rpc$", "read": "^od\\.dinsos\\."}
    (await management.put(path, json=grant)).raise_for_status()
    (await management.delete(path)).raise_for_status()
    [granted] = await records_of(audit_store, "broker.permission-created", name)
    assert (granted["user"], granted["vhost"]) == (name, broker.vhost)
    assert (granted["write"], granted["read"]) == (grant["write"], grant["read"])
    assert granted["actor"] == broker.username
    [withdrawn] = await records_of(audit_store, "broker.permission-deleted", name)
    assert (withdrawn["user"], withdrawn["vhost"]) == (name, broker.vhost)
    assert granted["time"] <= withdrawn["time"]
    assert (await verify(audit_store)).ok


async def test_a_connection_is_recorded_with_its_user(
    recorder: BrokerEvents, audit_store: AuditStore, broker: Settings
) -> None:
    connection = await aiormq.connect(broker.broker_url)
    await connection.close()
    user = broker.username
    created = await records_of(audit_store, "broker.connection-created", f'"{user}"')
    assert any(e["user"] == user and e["vhost"] == broker.vhost for e in created)


async def test_without_the_event_exchange_it_warns_and_stops_nothing(
    audit_store: AuditStore, broker: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = BrokerEvents(audit_store, broker.broker_url, queue="unused")  # no plugin vhost
    stop = asyncio.Event()
    task = asyncio.create_task(recorder.run(stop))
    for _ in range(100):
        if "broker events are not recorded" in caplog.text:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert "rabbitmq_event_exchange" in caplog.text
    assert await audit_store.count() == 0
