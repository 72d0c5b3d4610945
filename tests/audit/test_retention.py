"""``splp audit prune`` on both engines: a checkpoint keeps the rest verifiable (Pasal 64(8))."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from splp.audit import AuditStore, screen, verify
from splp.audit.retention import ChainBroken, prune
from splp.cli import app
from splp.errors import ConfigurationError
from tests.audit.conftest import events

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=3 * 365)
RECENT = NOW - timedelta(days=200)
LIMIT = NOW - timedelta(days=2 * 365 + 1)


def at(when: datetime, n: int) -> list[dict[str, Any]]:
    stamp = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return [{**event, "time": stamp} for event in events(n)]


async def fill(store: AuditStore, old: int = 10, recent: int = 5) -> None:
    await store.append([(event, None) for event in at(OLD, old)])
    await store.append([(event, None) for event in at(RECENT, recent)])


async def kinds(store: AuditStore) -> list[tuple[int, str]]:
    async with store.engine.connect() as connection:
        rows = await connection.execute(text("SELECT seq, kind FROM audit_records ORDER BY seq"))
        return [(row[0], row[1]) for row in rows]


async def test_prune_deletes_the_old_prefix_behind_a_checkpoint(audit_store: AuditStore) -> None:
    await fill(audit_store)
    head = await verify(audit_store)
    pruned = await prune(audit_store, LIMIT, actor="operator")
    assert (pruned.count, pruned.first_seq, pruned.last_seq) == (10, 1, 10)
    assert pruned.checkpoint_seq == 16
    assert [seq for seq, _kind in await kinds(audit_store)] == list(range(11, 17))
    verdict = await verify(audit_store)
    assert verdict.ok, verdict.problem
    assert (verdict.first_seq, verdict.records, verdict.head_seq) == (11, 6, 16)
    async with audit_store.engine.connect() as connection:
        event = orjson.loads(
            await connection.scalar(text("SELECT event FROM audit_records WHERE seq = 16"))
        )
    assert event["kind"] == "checkpoint" and event["actor"] == "operator"
    assert (event["first_seq"], event["last_seq"], event["count"]) == (1, 10, 10)
    assert event["forced"] is False and len(event["last_hash"]) == 64
    # an anchor written down before the prune still checks out through the checkpoint
    assert (await verify(audit_store, (head.head_seq, head.head_hash))).ok
    assert (await verify(audit_store, (10, event["last_hash"]))).ok
    assert not (await verify(audit_store, (3, "0" * 64))).ok


async def test_prune_refuses_records_younger_than_two_years(audit_store: AuditStore) -> None:
    await fill(audit_store)
    with pytest.raises(ConfigurationError, match="younger than 2 years"):
        await prune(audit_store, NOW - timedelta(days=30), actor="operator")
    assert len(await kinds(audit_store)) == 15
    pruned = await prune(audit_store, NOW - timedelta(days=30), actor="operator", force=True)
    assert pruned.count == 15
    assert await kinds(audit_store) == [(16, "checkpoint")]
    assert (await verify(audit_store)).ok


async def test_a_second_prune_and_new_events_still_verify(audit_store: AuditStore) -> None:
    await fill(audit_store)
    await prune(audit_store, LIMIT, actor="operator")
    await audit_store.append([(event, None) for event in at(NOW, 3)])
    pruned = await prune(audit_store, NOW - timedelta(days=1), actor="operator", force=True)
    assert (pruned.first_seq, pruned.last_seq) == (11, 15)  # up to the first checkpoint
    verdict = await verify(audit_store)
    assert verdict.ok and verdict.first_seq == 16 and verdict.records == 5
    assert [kind for _seq, kind in await kinds(audit_store)].count("checkpoint") == 2


@pytest.mark.parametrize("tamper", ["delete the first", "edit the checkpoint", "no checkpoint"])
async def test_tampering_after_a_prune_is_still_found(audit_store: AuditStore, tamper: str) -> None:
    await fill(audit_store)
    await prune(audit_store, LIMIT, actor="operator")
    statement = {
        "delete the first": "DELETE FROM audit_records WHERE seq = 11",
        "edit the checkpoint": "UPDATE audit_records SET event = "
        "replace(event, '\"count\"\\:10', '\"count\"\\:9') WHERE kind = 'checkpoint'",
        "no checkpoint": "DELETE FROM audit_records WHERE kind = 'checkpoint'",
    }[tamper]
    async with audit_store.engine.begin() as connection:
        assert (await connection.execute(text(statement))).rowcount == 1
    verdict = await verify(audit_store)
    assert not verdict.ok
    assert verdict.problem is not None


async def test_prune_refuses_a_broken_chain(audit_store: AuditStore) -> None:
    await fill(audit_store)
    async with audit_store.engine.begin() as connection:
        await connection.execute(text("DELETE FROM audit_records WHERE seq = 4"))
    with pytest.raises(ChainBroken, match="record 4 is missing"):
        await prune(audit_store, LIMIT, actor="operator")
    assert len(await kinds(audit_store)) == 14


async def test_nothing_older_prunes_nothing(audit_store: AuditStore) -> None:
    await audit_store.append([(event, None) for event in at(RECENT, 3)])
    assert (await prune(audit_store, LIMIT, actor="operator")).count == 0
    assert len(await kinds(audit_store)) == 3


async def cli(*args: str) -> Any:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_cli_prune_and_verify(audit_store: AuditStore) -> None:
    await fill(audit_store)
    url = ["--database-url", audit_store.url]
    young = (NOW - timedelta(days=30)).date().isoformat()
    refused = await cli("audit", "prune", "--before", young, *url)
    assert refused.exit_code == 2
    assert "younger than 2 years" in refused.stderr and "--force" in refused.stderr
    bad = await cli("audit", "prune", "--before", "last tuesday", *url)
    assert bad.exit_code == 2 and "not a date" in bad.stderr
    done = await cli(
        "audit", "prune", "--before", LIMIT.date().isoformat(), "--actor", "auditor", *url
    )
    assert done.exit_code == 0, done.output
    assert "pruned 10 records (1 to 10); checkpoint record 16" in done.stdout
    again = await cli("audit", "prune", "--before", LIMIT.date().isoformat(), "--json", *url)
    assert again.exit_code == 0 and orjson.loads(again.stdout)["count"] == 0
    verified = await cli("audit", "verify", *url)
    assert verified.exit_code == 0
    assert verified.stdout.startswith("ok: 6 records from record 11 (pruned before); head 16:")


async def test_cli_prune_refuses_a_broken_chain_as_a_failed_check(audit_store: AuditStore) -> None:
    await fill(audit_store)
    async with audit_store.engine.begin() as connection:
        await connection.execute(text("DELETE FROM audit_records WHERE seq = 12"))
    url = ["--database-url", audit_store.url]
    refused = await cli("audit", "prune", "--before", LIMIT.date().isoformat(), *url)
    assert refused.exit_code == 1
    assert "the chain does not verify, nothing pruned: record 12 is missing" in refused.stderr


async def test_a_checkpoint_published_on_the_bus_does_not_count(audit_store: AuditStore) -> None:
    await fill(audit_store)
    async with audit_store.engine.begin() as connection:
        await connection.execute(text("DELETE FROM audit_records WHERE seq <= 3"))
        last_hash = "0" * 64
    forged = {**events(1)[0], "kind": "checkpoint", "last_seq": 3, "last_hash": last_hash}
    await audit_store.append([screen(forged)])
    verdict = await verify(audit_store)
    assert not verdict.ok
    assert verdict.problem is not None and "records 1 to 3 are missing" in verdict.problem
