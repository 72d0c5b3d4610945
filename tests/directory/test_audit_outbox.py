"""The directory's audit events go through an outbox table, committed with each change."""

from __future__ import annotations

import asyncio
from typing import Any

import aiormq
import httpx
import orjson
import pytest
from sqlalchemy import func, select

from splp.bus.names import AUDIT_EXCHANGE
from splp.control_plane import close_app, create_app
from splp.directory_service import Store
from splp.directory_service.events import DirectoryEvents
from splp.directory_service.models import AuditOutbox, Theme
from splp.settings import Settings
from tests.directory.conftest import Api, directory_settings, walk


async def outbox_size(store: Store) -> int:
    async with store.session() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditOutbox)) or 0)


async def test_an_event_is_committed_or_rolled_back_with_its_change(store: Store) -> None:
    events = DirectoryEvents(None, store=store)
    with pytest.raises(RuntimeError):
        async with store.session() as session:
            session.add(Theme(name="gagal", title="", description=""))
            events.emit(session, "admin.theme-added", actor="admin", theme="gagal")
            raise RuntimeError("the change fails after its event was written")
    assert await outbox_size(store) == 0
    async with store.session() as session:
        session.add(Theme(name="jadi", title="", description=""))
        made = events.emit(session, "admin.theme-added", actor="admin", theme="jadi")
    assert [e["id"] for e in await events.pending()] == [made["id"]]


async def test_events_written_while_the_broker_is_down_go_out_after_a_restart(
    store: Store, parties: dict[str, str], penduduk: dict[str, Any], broker: Settings
) -> None:
    # the directory runs without a reachable broker: its events wait in the outbox
    down = create_app(directory_settings(store.url), store=Store(store.url))
    async with Api(transport=httpx.ASGITransport(down), base_url="http://directory") as client:
        client.tokens = parties
        await walk(client, penduduk, "approved")
    waiting = await down.state.events.pending()
    await close_app(down)  # the directory stops with its events undelivered
    kinds = [e["kind"] for e in waiting]
    assert kinds[-2:] == ["access.request", "access.approve"], kinds
    assert await outbox_size(store) == len(waiting)

    connection = await aiormq.connect(broker.broker_url)
    try:
        channel = await connection.channel()
        await channel.exchange_declare(AUDIT_EXCHANGE, exchange_type="topic", durable=True)
        queue = (await channel.queue_declare(exclusive=True)).queue
        await channel.queue_bind(queue, AUDIT_EXCHANGE, routing_key="#")
        received: list[dict[str, Any]] = []
        await channel.basic_consume(
            queue, lambda m: received.extend(orjson.loads(m.body)), no_ack=True
        )
        # a new directory process, now with the broker: its start relays the outbox
        settings = directory_settings(
            store.url, amqp_url=broker.amqp_url, vhost=broker.vhost, broker_reconcile=False
        )
        up = create_app(settings, store=Store(store.url))
        async with up.router.lifespan_context(up):
            for _ in range(200):
                if len(received) >= len(waiting) and await outbox_size(store) == 0:
                    break
                await asyncio.sleep(0.05)
    finally:
        await connection.close()
    assert [e["id"] for e in received] == [e["id"] for e in waiting]  # in order, once
    assert received == waiting
    assert await outbox_size(store) == 0  # deleted once confirmed
