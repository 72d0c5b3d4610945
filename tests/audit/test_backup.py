"""``splp audit backup`` and ``restore`` on both engines, as the directory's backup is tested."""

from __future__ import annotations

import asyncio
import contextlib
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from splp.audit import AuditRecord, AuditStore, verify
from splp.audit.backup import restore_backup, snapshot, write_backup
from splp.audit.retention import ChainBroken, prune
from splp.audit.store import MIGRATIONS
from splp.cli import app
from splp.errors import ConfigurationError
from tests.audit.conftest import events
from tests.audit.test_retention import LIMIT, fill
from tests.databases import throwaway_database


@contextlib.asynccontextmanager
async def empty_store(
    engine: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AuditStore]:
    async with throwaway_database(engine, tmp_path_factory, "restored") as url:
        store = AuditStore(url)
        try:
            yield store
        finally:
            await store.close()


def engine_of(store: AuditStore) -> str:
    return "postgres" if store.dialect == "postgresql" else "sqlite"


async def all_rows(store: AuditStore) -> list[dict[str, Any]]:
    async with store.engine.connect() as connection:
        rows = await connection.execute(select(AuditRecord.__table__).order_by(AuditRecord.seq))
        return [dict(row._mapping) for row in rows]


async def test_backup_restores_the_same_chain(
    audit_store: AuditStore, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    await fill(audit_store)
    await prune(audit_store, LIMIT, actor="operator")  # a chain that starts at a checkpoint
    await audit_store.append([(event, None) for event in events(3)])
    file = tmp_path / "audit.jsonl"
    file.write_text("an older, world-readable file")
    file.chmod(0o644)
    summary = await write_backup(audit_store, file)
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert (summary.rows, summary.first_seq, summary.head_seq) == (9, 11, 19)
    header = orjson.loads(file.read_bytes().splitlines()[0])
    assert header["format"] == "splp-audit-backup" and header["revision"] == MIGRATIONS.head()
    async with empty_store(engine_of(audit_store), tmp_path_factory) as copy:
        restored = await restore_backup(copy, file)
        assert restored.rows == 9 and restored.head_hash == summary.head_hash
        assert await all_rows(copy) == await all_rows(audit_store)
        verdict = await verify(copy)
        assert verdict.ok and verdict.first_seq == 11 and verdict.head_seq == 19
        with pytest.raises(ConfigurationError, match="not empty"):
            await restore_backup(copy, file)


@pytest.mark.parametrize("damage", ["edit one byte", "drop a middle row", "drop the last row"])
async def test_restore_refuses_a_backup_whose_chain_does_not_verify(
    audit_store: AuditStore,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    damage: str,
) -> None:
    await audit_store.append([(event, None) for event in events(6)])
    file = tmp_path / "audit.jsonl"
    await write_backup(audit_store, file)
    lines = file.read_bytes().splitlines(keepends=True)
    if damage == "edit one byte":
        lines[3] = lines[3].replace(b'"status\\":200', b'"status\\":201', 1)
        assert b'"status\\":201' in lines[3]
    elif damage == "drop a middle row":
        del lines[3]
    else:
        del lines[-1]
    file.write_bytes(b"".join(lines))
    async with empty_store(engine_of(audit_store), tmp_path_factory) as copy:
        with pytest.raises(ChainBroken) as refused:
            await restore_backup(copy, file)
        expected = {
            "edit one byte": "record 3 was modified",
            "drop a middle row": "record 3 is missing",
            "drop the last row": "ends at record 5",
        }[damage]
        assert expected in str(refused.value)
        async with copy.engine.connect() as connection:
            assert await connection.scalar(select(func.count()).select_from(AuditRecord)) == 0


async def test_restore_refuses_what_is_not_an_audit_backup(
    audit_store: AuditStore, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.jsonl"
    junk.write_bytes(b'{"format": "splp-directory-backup", "version": 1}\n')
    with pytest.raises(ConfigurationError, match="not an SPLP audit backup"):
        await restore_backup(audit_store, junk)
    junk.write_bytes(
        b'{"format": "splp-audit-backup", "version": 1, "revision": "'
        + MIGRATIONS.head().encode()
        + b'", "tables": ["audit_records"], "head": {"seq": 0, "hash": null}}\n{"table": "x"}\n'
    )
    with pytest.raises(ConfigurationError, match="line 2 of the backup is not a row"):
        await restore_backup(audit_store, junk)


async def test_a_backup_reads_one_snapshot(audit_store: AuditStore) -> None:
    await audit_store.append([(event, None) for event in events(3)])
    writer = AuditStore(audit_store.url)
    try:
        async with snapshot(audit_store) as connection:
            before = await connection.scalar(select(func.count()).select_from(AuditRecord))
            if audit_store.dialect == "postgresql":
                assert (
                    await connection.scalar(text("SHOW transaction_isolation"))
                ) == "repeatable read"
                assert (await connection.scalar(text("SHOW transaction_read_only"))) == "on"
                # a sink's commit meanwhile is not seen by the rest of the backup
                assert await writer.append([(event, None) for event in events(2)]) == 2
            else:
                # SQLite holds writers off until the backup's read transaction ends
                late = asyncio.create_task(writer.append([(e, None) for e in events(2)]))
                await asyncio.sleep(0.5)
                assert not late.done()
            after = await connection.scalar(select(func.count()).select_from(AuditRecord))
            assert after == before == 3
        if audit_store.dialect != "postgresql":
            assert await late == 2
        assert await audit_store.count() == 5
    finally:
        await writer.close()


@pytest.mark.postgres
async def test_a_sqlite_backup_restores_into_postgresql_and_back(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    async with (
        empty_store("sqlite", tmp_path_factory) as sqlite,
        empty_store("postgres", tmp_path_factory) as postgres,
        empty_store("sqlite", tmp_path_factory) as back,
    ):
        await sqlite.migrate()
        await fill(sqlite)
        await prune(sqlite, LIMIT, actor="operator")
        await write_backup(sqlite, tmp_path / "a.jsonl")
        await restore_backup(postgres, tmp_path / "a.jsonl")
        assert (await verify(postgres)).ok
        await write_backup(postgres, tmp_path / "b.jsonl")
        await restore_backup(back, tmp_path / "b.jsonl")
        assert await all_rows(back) == await all_rows(sqlite)


async def cli(*args: str) -> Any:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_backup_and_restore_through_the_cli(
    audit_store: AuditStore, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    await audit_store.append([(event, None) for event in events(4)])
    file = tmp_path / "audit.jsonl"
    done = await cli("audit", "backup", str(file), "--database-url", audit_store.url, "--json")
    assert done.exit_code == 0, done.output
    summary = orjson.loads(done.stdout)
    assert summary["rows"] == 4 and summary["head_seq"] == 4
    async with empty_store(engine_of(audit_store), tmp_path_factory) as copy:
        restored = await cli("audit", "restore", str(file), "--database-url", copy.url)
        assert restored.exit_code == 0, restored.output
        assert restored.stdout.startswith(f"restored 4 rows of 2 tables from {file}")
        again = await cli("audit", "restore", str(file), "--database-url", copy.url)
        assert again.exit_code == 2 and "not empty" in again.stderr
    lines = file.read_bytes().splitlines(keepends=True)
    file.write_bytes(b"".join(lines[:2] + lines[3:]))
    async with empty_store(engine_of(audit_store), tmp_path_factory) as copy:
        refused = await cli("audit", "restore", str(file), "--database-url", copy.url)
        assert refused.exit_code == 1
        assert "the backup's chain does not verify: record 2 is missing" in refused.stderr
    missing = await cli("audit", "restore", str(tmp_path / "none.jsonl"))
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    no_store = await cli(
        "audit", "backup", str(file), "--database-url", f"sqlite+aiosqlite:///{tmp_path}/x.db"
    )
    assert no_store.exit_code == 2 and "no store at" in no_store.stderr
