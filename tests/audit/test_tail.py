"""``splp audit tail``: the latest records from the directory API or the store, and a live
follow of ``splp.audit`` on the real broker, each filtered by service, requester, status."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from splp.audit import AuditStore
from splp.audit.query import Filters
from splp.audit.tail import TAIL_PREFETCH, follow
from splp.cli import app
from splp.control_plane import close_app, create_app
from splp.http_server import serve_app
from splp.settings import Settings
from tests.audit.conftest import events, publish
from tests.directory.conftest import Api, directory_settings


async def invoke(env: dict[str, str], *args: str) -> Result:
    runner = CliRunner()
    return await asyncio.to_thread(lambda: runner.invoke(app, ["audit", "tail", *args], env=env))


@pytest.fixture
async def trail(api: Api) -> AsyncIterator[tuple[str, AuditStore]]:
    """The directory on a real uvicorn, its audit store holding 10 calls of dinsos (200)
    then 5 of dinkes (404), the latest ones with durations 0.5 .. 4.5 ms."""
    store = AuditStore(str(api.app.state.settings.database_url))  # type: ignore[attr-defined]
    await store.append([(e, None) for e in events(10)])
    await store.append([(e, None) for e in events(5, requester="dinkes", status=404)])
    directory = create_app(directory_settings(store.url))
    async with serve_app(directory) as url:
        yield url, store
    await close_app(directory)
    await store.close()


async def test_latest_records_through_the_api(trail: tuple[str, AuditStore], api: Api) -> None:
    url, _store = trail
    env = {"SPLP_DIRECTORY_URL": url, "SPLP_TOKEN": api.tokens["inspektorat"]}
    result = await invoke(env, "--limit", "3", "--json")
    assert result.exit_code == 0, result.output
    shown = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["requester"], e["status"]) for e in shown] == [("dinkes", 404)] * 3
    assert [e["duration_ms"] for e in shown] == [2.5, 3.5, 4.5]  # the last three, in order

    result = await invoke(env, "--requester", "dinsos", "--status", "200")
    lines = result.stdout.splitlines()
    assert len(lines) == 10 and all(" dinsos 200 " in line for line in lines), lines
    assert "dukcapil.penduduk.v1 get-by-nik" in lines[0]

    denied = await invoke({**env, "SPLP_TOKEN": api.tokens["dinsos"]})
    assert denied.exit_code == 3 and "error:" in denied.stderr


async def test_latest_records_from_the_store(trail: tuple[str, AuditStore]) -> None:
    _url, store = trail
    result = await invoke({}, "--database-url", store.url, "--service", "dukcapil.penduduk")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 15
    result = await invoke({}, "--database-url", store.url, "--service", "bapenda.pajak")
    assert result.exit_code == 0 and result.stdout == ""


async def test_follow_prints_live_events_that_pass_the_filters(
    broker: Settings, sink_queue: str
) -> None:
    env = {"SPLP_AMQP_URL": broker.amqp_url, "SPLP_VHOST": broker.vhost}
    follower = asyncio.ensure_future(
        invoke(env, "-f", "--status", "403", "--max-events", "4", "--json")
    )
    sent: list[dict[str, Any]] = []
    for _ in range(100):  # until the follower has bound its queue and seen four
        if follower.done():
            break
        batch = [*events(2), *events(1, requester="od-x", status=403)]
        sent += [e for e in batch if e["status"] == 403]
        await publish(broker, [batch])
        await asyncio.sleep(0.1)
    result = await asyncio.wait_for(follower, 10)
    assert result.exit_code == 0, result.output
    shown = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(shown) == 4
    assert all(e["status"] == 403 and e["requester"] == "od-x" for e in shown)
    ids = [e["id"] for e in sent]
    assert [e["id"] for e in shown] == ids[ids.index(shown[0]["id"]) :][:4]


async def _tail_queue(management: httpx.AsyncClient, vhost: str) -> dict[str, Any] | None:
    """The follower's own queue (exclusive, server-named), as the management API shows it."""
    response = await management.get(f"/api/queues/{quote(vhost, safe='')}")
    response.raise_for_status()
    found = [q for q in response.json() if q.get("exclusive") and q["name"].startswith("amq.gen")]
    return found[0] if found else None


async def test_follow_takes_events_with_a_prefetch_and_acks_them(
    broker: Settings, management: httpx.AsyncClient
) -> None:
    """A slow reader leaves the backlog at the broker (QoS), not in the follower's memory,
    and every message it has read is acked."""
    followed = follow(broker.broker_url, Filters(), broker)
    first = asyncio.ensure_future(anext(followed))
    try:
        for _ in range(100):
            if await _tail_queue(management, broker.vhost):
                break
            await asyncio.sleep(0.1)
        await publish(broker, [events(1) for _ in range(TAIL_PREFETCH * 3)])
        await asyncio.wait_for(first, 10)
        # the reader now holds back: the broker keeps what is over the prefetch
        queue: dict[str, Any] | None = None
        for _ in range(150):
            queue = await _tail_queue(management, broker.vhost)
            if queue and queue.get("messages_ready", 0) >= TAIL_PREFETCH:
                break
            await asyncio.sleep(0.1)
        assert queue is not None
        assert queue.get("messages_ready", 0) >= TAIL_PREFETCH, queue
        assert queue.get("messages_unacknowledged", 0) <= TAIL_PREFETCH, queue
        for _ in range(TAIL_PREFETCH * 3 - 1):
            await asyncio.wait_for(anext(followed), 10)
        for _ in range(150):  # read to the end: only the message being read is unacked
            queue = await _tail_queue(management, broker.vhost)
            if queue and queue.get("messages", -1) == 1:
                break
            await asyncio.sleep(0.1)
        assert queue is not None and queue.get("messages") == 1, queue
    finally:
        first.cancel()
        await followed.aclose()
