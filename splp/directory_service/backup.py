"""Backup and restore of the whole store as one JSON document (Musi Banyuasin Pasal 32(2)h).

The document is engine-neutral, so a backup of a SQLite store restores into PostgreSQL
and back::

    {"format": "splp-directory-backup", "version": 1, "revision": "0001",
     "tables": {"parties": [{"id": 1, "name": "admin", ...}], ...}}

Timestamps are ISO 8601 in UTC; token hashes are copied, so tokens keep working.
A restore needs an empty store at the same schema revision.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sqlalchemy import LargeBinary, Table, func, insert, select, text

from splp.db import UtcDateTime, read_snapshot
from splp.directory_service.models import Base
from splp.directory_service.store import MIGRATIONS, Store
from splp.errors import ConfigurationError

FORMAT = "splp-directory-backup"
VERSION = 1


EPHEMERAL = frozenset({"user_sessions"})
"""Tables a backup leaves out: after a restore, people sign in again."""


def _tables() -> list[Table]:
    return [table for table in Base.metadata.sorted_tables if table.name not in EPHEMERAL]


async def dump(store: Store) -> dict[str, Any]:
    """Every row of every table, and the schema revision, in one snapshot."""
    tables: dict[str, list[dict[str, Any]]] = {}
    async with read_snapshot(store.engine) as connection:
        revision = await MIGRATIONS.revision_on(connection)
        for table in _tables():
            rows = await connection.execute(select(table).order_by(*table.primary_key.columns))
            tables[table.name] = [
                {key: _encode(value) for key, value in row._mapping.items()} for row in rows
            ]
    return {
        "format": FORMAT,
        "version": VERSION,
        "revision": revision,
        "tables": tables,
    }


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):  # a document's bytes (attachments.data)
        return base64.b64encode(value).decode("ascii")
    return value.isoformat() if isinstance(value, datetime) else value


async def restore(store: Store, document: Any) -> dict[str, int]:
    """Load a :func:`dump` into an empty store; returns the number of rows per table."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ConfigurationError("not an SPLP directory backup")
    if document.get("version") != VERSION:
        raise ConfigurationError(
            f"backup format version {document.get('version')!r} is not {VERSION}"
        )
    await store.migrate()
    if document.get("revision") != await store.revision():
        raise ConfigurationError(
            f"the backup is of schema revision {document.get('revision')}, the store is at "
            f"{await store.revision()}: restore with the SPLP version that made the backup"
        )
    data = document.get("tables")
    if not isinstance(data, dict):
        raise ConfigurationError("the backup has no tables")
    counts: dict[str, int] = {}
    async with store.engine.begin() as connection:
        for table in _tables():
            if await connection.scalar(select(func.count()).select_from(table)):
                raise ConfigurationError(f"the store is not empty (table {table.name} has rows)")
        for table in _tables():
            rows = data.get(table.name, [])
            if not isinstance(rows, list):
                raise ConfigurationError(f"table {table.name} in the backup is not a list")
            decoded = [_decode(table, row) for row in rows]
            if decoded:
                await connection.execute(insert(table), decoded)
            counts[table.name] = len(decoded)
        if connection.dialect.name == "postgresql":
            for table in _tables():
                # rows came with their ids: move each id sequence past them
                await connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                    )
                )
    return counts


def _decode(table: Table, row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ConfigurationError(f"a row of {table.name} is not an object")
    unknown = set(row) - set(table.columns.keys())
    if unknown:
        raise ConfigurationError(f"table {table.name} has no column {sorted(unknown)[0]}")
    values = {}
    for column in table.columns:
        value = row.get(column.name)
        if value is not None and isinstance(column.type, LargeBinary):
            try:
                value = base64.b64decode(value, validate=True)
            except (TypeError, ValueError):
                raise ConfigurationError(f"{table.name}.{column.name}: bad base64") from None
        if value is not None and isinstance(column.type, UtcDateTime):
            try:
                value = datetime.fromisoformat(value)
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"{table.name}.{column.name}: bad time {value!r}"
                ) from None
        values[column.name] = value
    return values
