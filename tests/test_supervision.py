"""Background loops outlive any error: each is restarted by ``splp.retry.keep_running``,
logged and counted, instead of ending for good (issue 12, supervision)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiormq
import pytest

from splp.adapters.grants import DirectoryGrants
from splp.bus.audit_events import AuditEmitter, audit_event, decode_audit_message
from splp.bus.directory_cache import DirectoryCache
from splp.bus.names import AUDIT_EXCHANGE, ServiceRef
from splp.directory_service.broker import BrokerReconciler, Drift
from splp.directory_service.events import DirectoryEvents
from splp.directory_service.store import Store
from splp.metrics import Metrics
from splp.retry import every, keep_running
from splp.settings import Settings

NO_DIRECTORY = "http://127.0.0.1:1"


async def until(predicate: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds * 20)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    pytest.fail("the loop did not go on")


def restarts(loop: str) -> float:
    return Metrics().value("splp_background_restarts_total", loop=loop) or 0.0


async def test_keep_running_restarts_after_any_error_and_stops_when_the_loop_returns() -> None:
    runs: list[int] = []

    async def loop() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise KeyError("a reply of an unexpected shape")
        if len(runs) == 2:
            raise RuntimeError("channel closed")

    before = restarts("test loop")
    await asyncio.wait_for(keep_running(loop, what="test loop", initial=0.01, maximum=0.05), 5)
    assert runs == [0, 1, 2]
    assert restarts("test loop") == before + 2


async def test_every_goes_on_after_an_error_until_cancelled() -> None:
    runs: list[int] = []

    async def step() -> None:
        runs.append(len(runs))
        if len(runs) == 2:
            raise KeyError("a reply of an unexpected shape")

    before = restarts("test timer")
    task = asyncio.create_task(every(0.01, step, what="test timer", initial=0.01, maximum=0.05))
    await until(lambda: len(runs) >= 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert restarts("test timer") == before + 1


async def test_keep_running_ends_on_cancellation() -> None:
    task = asyncio.create_task(keep_running(asyncio.Event().wait, what="idle"))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_reconcile_timer_outlives_an_error_that_is_not_an_splp_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
        management_url="http://guest:guest@127.0.0.1:1",
    )
    reconciler = BrokerReconciler(Store(settings.database_url), settings)
    calls: list[int] = []

    async def sync() -> Drift:
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("name")  # e.g. a management API reply of another shape
        return Drift()

    monkeypatch.setattr(reconciler, "sync", sync)
    timer = asyncio.create_task(reconciler.run_forever(0.05))
    try:
        await until(lambda: len(calls) >= 3 or timer.done())
        assert not timer.done()
    finally:
        timer.cancel()
        await asyncio.gather(timer, return_exceptions=True)
        await reconciler.store.close()


async def test_the_grants_refresh_outlives_an_unexpected_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = DirectoryCache(Settings(directory_url=NO_DIRECTORY, cache_dir=tmp_path))
    fetches: list[int] = []

    async def get(path: str) -> Any:
        fetches.append(1)
        if len(fetches) == 2:
            raise AttributeError("a bug in a cache layer")
        return []

    monkeypatch.setattr(cache, "get", get)
    grants = DirectoryGrants(cache, ServiceRef("uji", "echo", 1), refresh=0.05)
    await grants.start()
    try:
        await until(lambda: len(fetches) >= 4)
    finally:
        await grants.stop()


async def test_the_audit_emitter_goes_on_after_an_event_it_cannot_publish(
    broker: Settings,
) -> None:
    """An event that cannot be encoded (a bug in its producer) once ended the emitter's
    task: every later event stayed in memory until the next reconnect."""
    connection = await aiormq.connect(broker.broker_url)
    channel = await connection.channel()
    await channel.exchange_declare(AUDIT_EXCHANGE, exchange_type="topic", durable=True)
    declared = await channel.queue_declare("", exclusive=True)
    assert declared.queue is not None
    await channel.queue_bind(declared.queue, AUDIT_EXCHANGE, routing_key="response.uji.#")
    emitter = AuditEmitter(linger=0.01)
    try:
        await emitter.attach(connection)
        emitter.emit({**audit_event("response", "test", theme="uji"), "bad": {1, 2}})
        await asyncio.sleep(0.3)
        good = audit_event("response", "test", theme="uji")
        emitter.emit(good)
        assert await emitter.flush(timeout=5)
        got = None
        for _ in range(50):
            got = await channel.basic_get(declared.queue, no_ack=True)
            if got.body:
                break
            await asyncio.sleep(0.1)
        assert got is not None and [e["id"] for e in decode_audit_message(got.body)] == [good["id"]]
    finally:
        await emitter.close()
        await connection.close()


async def test_the_directorys_audit_connection_is_retried_after_any_error(
    broker: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A RuntimeError while the directory opened its audit channel once ended its connector:
    its events then waited (in memory, now in the outbox) for good."""
    from splp.directory_service.store import Store

    connection = await aiormq.connect(broker.broker_url)
    channel = await connection.channel()
    await channel.exchange_declare(AUDIT_EXCHANGE, exchange_type="topic", durable=True)
    declared = await channel.queue_declare("", exclusive=True)
    assert declared.queue is not None
    await channel.queue_bind(declared.queue, AUDIT_EXCHANGE, routing_key="admin.#")
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'directory.db'}")
    await store.migrate()
    events = DirectoryEvents(broker.broker_url, broker, store)
    attach = events._attach
    failures: list[str] = []

    async def attach_failing_once(connection: Any) -> None:
        if not failures:
            failures.append("raised")
            raise aiormq.exceptions.ChannelInvalidStateError("connection closed")
        await attach(connection)

    monkeypatch.setattr(events, "_attach", attach_failing_once)
    monkeypatch.setattr("splp.directory_service.events.RETRY_SECONDS", (0.05, 0.2))
    try:
        async with store.session() as session:
            sent = events.emit(session, "admin.theme-added", actor="admin", theme="uji")
            await session.commit()
        got = None
        for _ in range(100):
            got = await channel.basic_get(declared.queue, no_ack=True)
            if got.body:
                break
            await asyncio.sleep(0.1)
        assert got is not None and got.body, "the event never left the directory"
        assert [e["id"] for e in decode_audit_message(got.body)] == [sent["id"]]
        assert failures == ["raised"]
    finally:
        await events.close()
        await store.close()
        await connection.close()
