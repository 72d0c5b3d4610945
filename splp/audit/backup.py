"""Backup and restore of the audit store, on SQLite and PostgreSQL (Musi Banyuasin Pasal 32(2)h).

The audit store grows without bound, so a backup is written and read as a stream of JSON
lines rather than one document. The first line describes the backup, each further line
holds one row::

    {"format": "splp-audit-backup", "version": 1, "revision": "a0001",
     "tables": ["audit_records"], "head": {"seq": 1200, "hash": "3f5a..."}, "first_seq": 1}
    {"table": "audit_records", "row": {"seq": 1, "event_id": "...", "at": "...", ...}}

It is engine-neutral (a SQLite backup restores into PostgreSQL and back). Every table
is read in one snapshot: on PostgreSQL one ``REPEATABLE READ, READ ONLY`` transaction,
on SQLite one read transaction, so a sink writing meanwhile cannot make the head and
the rows disagree. The file is written with mode 0600 under a temporary name and moved
into place when complete.

A restore needs an empty store at the backup's schema revision. It inserts the rows in
one transaction and verifies the chain inside it (a chain pruned before the backup
verifies from its checkpoint) and that it ends at the backup's head; a backup whose
chain does not verify is refused and nothing is stored.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from splp.audit.records import AuditBase, AuditRecord
from splp.audit.retention import ChainBroken
from splp.audit.store import AuditStore
from splp.audit.verify import verify
from splp.db import UtcDateTime
from splp.errors import ConfigurationError

FORMAT = "splp-audit-backup"
VERSION = 1
CHUNK = 1000


@dataclass(frozen=True, slots=True)
class BackupSummary:
    """What a backup holds (or a restore stored): rows per table and the chain's ends."""

    tables: dict[str, int]
    head_seq: int
    head_hash: str | None
    first_seq: int | None

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def _tables() -> list[Table]:
    return list(AuditBase.metadata.sorted_tables)


@contextlib.asynccontextmanager
async def snapshot(store: AuditStore) -> AsyncIterator[AsyncConnection]:
    """A connection whose reads all see one state of the store, and that cannot write."""
    async with store.engine.connect() as connection:
        if store.dialect == "postgresql":
            connection = await connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            async with connection.begin():
                yield connection
            return
        # pysqlite begins transactions only before writes: begin the read one explicitly
        await connection.exec_driver_sql("BEGIN")
        try:
            yield connection
        finally:
            await connection.rollback()


async def write_backup(store: AuditStore, path: Path) -> BackupSummary:
    """Write every table of ``store`` to ``path`` (mode 0600), read in one snapshot."""
    temporary = path.with_name(f".{path.name}.partial")
    counts: dict[str, int] = {}
    async with snapshot(store) as connection:
        head = (
            await connection.execute(
                select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
            )
        ).first()
        first = await connection.scalar(select(func.min(AuditRecord.seq)))
        head_seq, head_hash = (int(head[0]), str(head[1])) if head else (0, None)
        header: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "revision": await _revision(connection),
            "tables": [table.name for table in _tables()],
            "head": {"seq": head_seq, "hash": head_hash},
            "first_seq": first,
        }
        with _private_file(temporary) as out:
            out.write(orjson.dumps(header) + b"\n")
            for table in _tables():
                counts[table.name] = 0
                rows = await connection.stream(select(table).order_by(*table.primary_key.columns))
                async for row in rows:
                    line = {"table": table.name, "row": _encode(row._mapping)}
                    out.write(orjson.dumps(line) + b"\n")
                    counts[table.name] += 1
    os.replace(temporary, path)
    return BackupSummary(counts, head_seq, head_hash, first)


async def restore_backup(store: AuditStore, path: Path) -> BackupSummary:
    """Load a :func:`write_backup` file into an empty ``store``; refuse a broken chain."""
    with path.open("rb") as source:
        header = _header(source.readline())
        await store.migrate()
        revision = await store.revision()
        if header["revision"] != revision:
            raise ConfigurationError(
                f"the backup is of schema revision {header['revision']}, the store is at "
                f"{revision}: restore with the SPLP version that made the backup"
            )
        tables = {table.name: table for table in _tables()}
        unknown = set(header["tables"]) - set(tables)
        if unknown:
            raise ConfigurationError(f"the store has no table {sorted(unknown)[0]}")
        counts = dict.fromkeys(tables, 0)
        async with store.engine.begin() as connection:
            for table in tables.values():
                if await connection.scalar(select(func.count()).select_from(table)):
                    raise ConfigurationError(
                        f"the store is not empty (table {table.name} has rows)"
                    )
            for name, chunk in _chunks(source, tables):
                await connection.execute(insert(tables[name]), chunk)
                counts[name] += len(chunk)
            verdict = await verify(store, connection=connection)
            if not verdict.ok:
                raise ChainBroken(f"the backup's chain does not verify: {verdict.problem}")
            head = header["head"]
            if (verdict.head_seq, verdict.head_hash if verdict.records else None) != (
                head.get("seq"),
                head.get("hash"),
            ):
                raise ChainBroken(
                    f"the backup's chain ends at record {verdict.head_seq}, its header says "
                    f"{head.get('seq')}: records are missing at its end"
                )
            if connection.dialect.name == "postgresql":
                for table in tables.values():
                    if "id" in table.columns and table.c.id.autoincrement is True:
                        # rows came with their ids: move the id sequence past them
                        await connection.execute(
                            text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                            )
                        )
    return BackupSummary(counts, verdict.head_seq, head.get("hash"), header.get("first_seq"))


async def _revision(connection: AsyncConnection) -> str | None:
    revision = await connection.scalar(text("SELECT version_num FROM splp_audit_alembic_version"))
    return str(revision) if revision is not None else None


@contextlib.contextmanager
def _private_file(path: Path) -> Iterator[IO[bytes]]:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # also when it existed with wider permissions
    try:
        with os.fdopen(descriptor, "wb") as out:
            yield out
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _encode(row: Any) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in row.items()
    }


def _header(line: bytes) -> dict[str, Any]:
    try:
        header = orjson.loads(line)
    except orjson.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ConfigurationError("not an SPLP audit backup")
    if header.get("version") != VERSION:
        raise ConfigurationError(
            f"audit backup format version {header.get('version')!r} is not {VERSION}"
        )
    if not isinstance(header.get("tables"), list) or not isinstance(header.get("head"), dict):
        raise ConfigurationError("the audit backup's first line lacks its tables or head")
    return header


def _chunks(source: IO[bytes], tables: dict[str, Table]) -> Iterator[tuple[str, list[Any]]]:
    """The backup's rows, decoded, in runs of up to ``CHUNK`` rows of one table."""
    name: str | None = None
    chunk: list[dict[str, Any]] = []
    for number, line in enumerate(source, start=2):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise ConfigurationError(f"line {number} of the backup is not JSON") from None
        if not isinstance(item, dict) or item.get("table") not in tables:
            raise ConfigurationError(f"line {number} of the backup is not a row of a table")
        if chunk and (item["table"] != name or len(chunk) >= CHUNK):
            assert name is not None
            yield name, chunk
            chunk = []
        name = item["table"]
        chunk.append(_decode(tables[item["table"]], item.get("row"), number))
    if chunk:
        assert name is not None
        yield name, chunk


def _decode(table: Table, row: Any, number: int) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ConfigurationError(f"line {number} of the backup: the row is not an object")
    unknown = set(row) - set(table.columns.keys())
    if unknown:
        raise ConfigurationError(f"table {table.name} has no column {sorted(unknown)[0]}")
    values = {}
    for column in table.columns:
        value = row.get(column.name)
        if value is not None and isinstance(column.type, UtcDateTime):
            try:
                value = datetime.fromisoformat(value)
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"line {number} of the backup: {table.name}.{column.name} is not a time"
                ) from None
        values[column.name] = value
    return values
