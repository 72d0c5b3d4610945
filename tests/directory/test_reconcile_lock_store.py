"""The reconcile lock itself, on both engines: one holder at a time, a clear error naming
the holder after the wait, and (SQLite) a crashed holder's lease taken over."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, insert

from splp.control_plane import migrate
from splp.db import utcnow
from splp.directory_service import Store
from splp.directory_service.broker.lock import ReconcileLock, reconcile_locks
from splp.errors import ServiceUnavailable
from tests.directory.conftest import directory_settings


async def test_one_holder_at_a_time_across_engines(store: Store) -> None:
    other = Store(store.url)  # another process's engine on the same database
    try:
        first = ReconcileLock(store.engine, "uji", wait=0.5, poll=0.05)
        second = ReconcileLock(other.engine, "uji", wait=0.5, poll=0.05)
        async with first.held():
            with pytest.raises(ServiceUnavailable, match="reconcile lock is held by"):
                async with second.held():
                    pytest.fail("two holders at once")
            async with ReconcileLock(other.engine, "another-vhost", wait=0.5).held():
                pass  # one lock per vhost
        async with second.held():  # released
            pass
    finally:
        await other.close()


async def test_a_waiter_gets_the_lock_when_it_is_released(store: Store) -> None:
    first = ReconcileLock(store.engine, "uji", poll=0.05)
    second = ReconcileLock(store.engine, "uji", wait=10, poll=0.05)
    order: list[str] = []

    async def hold() -> None:
        async with first.held():
            order.append("first in")
            await asyncio.sleep(0.5)
            order.append("first out")

    async def wait() -> None:
        await asyncio.sleep(0.1)
        async with second.held():
            order.append("second in")

    await asyncio.gather(hold(), wait())
    assert order == ["first in", "first out", "second in"]


async def test_an_expired_lease_is_taken_over(tmp_path: Path) -> None:
    """SQLite's lock is a row with a lease (PostgreSQL's advisory lock ends with its
    holder's connection, so it has no lease to take over)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'lease.db'}"
    await migrate(directory_settings(url))
    store = Store(url)
    try:
        lock = ReconcileLock(store.engine, "uji", wait=0.5, poll=0.05)
        async with store.engine.begin() as connection:
            await connection.execute(
                insert(reconcile_locks).values(
                    name=lock.name, holder="ghost:1:dead", expires_at=utcnow() + timedelta(hours=1)
                )
            )
        with pytest.raises(ServiceUnavailable, match="ghost:1:dead"):
            async with lock.held():
                pass
        async with store.engine.begin() as connection:
            await connection.execute(delete(reconcile_locks))
            await connection.execute(
                insert(reconcile_locks).values(
                    name=lock.name,
                    holder="ghost:1:dead",
                    expires_at=utcnow() - timedelta(seconds=1),
                )
            )
        async with lock.held():
            pass
    finally:
        await store.close()
