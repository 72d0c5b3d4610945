"""One reconcile at a time across processes (an advisory lock on PostgreSQL, a lock row
with a lease on SQLite), so no process applies a stale plan after a newer one.

A directory replica (this process) has planned from a store in which dinsos holds a
grant, and is about to apply; meanwhile the grant is revoked and ``splp broker sync``
runs in another process. Without a shared lock the CLI applied the revocation first and
the replica then wrote the revoked permission back. With it the CLI waits, then plans
from the newer store: the broker ends without the permission.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import update

from splp.directory_service.broker import reconciler as reconciler_module
from splp.directory_service.models import AccessRequest
from tests.broker.conftest import World, made_world
from tests.databases import DATABASE_ENGINES, create_postgres_database, drop_postgres_database

ROOT = Path(__file__).resolve().parents[2]
EXCHANGE = "splp.theme.kependudukan"


@pytest.fixture(params=DATABASE_ENGINES)
async def lock_world(
    request: pytest.FixtureRequest, management: httpx.AsyncClient, tmp_path: Path
) -> AsyncIterator[World]:
    if request.param == "sqlite":
        async with made_world(management, tmp_path) as w:
            yield w
        return
    url = await create_postgres_database()
    try:
        async with made_world(management, tmp_path, database_url=url) as w:
            yield w
    finally:
        await drop_postgres_database(url)


async def _sync_in_another_process(world: World) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SPLP_DATABASE_URL": world.settings.database_url,
        "SPLP_VHOST": world.settings.vhost,
        "SPLP_BROKER_USER_PREFIX": world.settings.broker_user_prefix,
        "SPLP_MANAGEMENT_URL": world.settings.management_url,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "splp", "broker", "sync", "--json",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _exits_or_waits(process: asyncio.subprocess.Process) -> str:
    """``exited`` if the process ends first, ``waiting`` once it says it waits for the lock."""
    assert process.stderr is not None
    while line := await asyncio.wait_for(process.stderr.readline(), 60):
        if b"waiting for the reconcile lock" in line:
            return "waiting"
    await process.wait()
    return "exited"


async def test_a_second_process_never_applies_around_a_stale_plan(
    lock_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = lock_world
    request_id = await w.grant("dinsos", "dukcapil.penduduk.v1")
    assert EXCHANGE in await w.topic_permissions("dinsos")
    vhost = quote(w.settings.vhost, safe="")
    await w.management.delete(f"/api/topic-permissions/{vhost}/{w.user('dinsos')}")

    planned, go = asyncio.Event(), asyncio.Event()
    apply_plan = reconciler_module.apply_plan

    async def paused_apply(*args: Any) -> None:
        planned.set()
        await go.wait()
        await apply_plan(*args)

    monkeypatch.setattr(reconciler_module, "apply_plan", paused_apply)
    replica = asyncio.create_task(w.reconciler.sync())
    await asyncio.wait_for(planned.wait(), 30)  # its plan restores the grant's permission
    async with w.store.engine.begin() as connection:
        await connection.execute(
            update(AccessRequest).where(AccessRequest.id == request_id).values(state="revoked")
        )
    cli = await _sync_in_another_process(w)
    try:
        seen = await _exits_or_waits(cli)
    finally:
        go.set()
        drift = await replica
        out, err = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode == 0, err.decode()
    assert any("topic permission" in change for change in drift.changes)
    assert EXCHANGE not in await w.topic_permissions("dinsos"), out.decode()
    assert seen == "waiting"
