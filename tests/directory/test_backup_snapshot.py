"""A backup reads one snapshot: a change committed while it runs is wholly in it or out.

The change (a new party and its API token, one transaction) is committed from another
engine right after the backup has read ``parties`` and before it reads ``api_tokens``.
Read in one snapshot, the file holds neither; read statement by statement (READ
COMMITTED on PostgreSQL, autocommit reads on SQLite) it held a token of a party it does
not have, and the restore of that file failed.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from sqlalchemy import event

from splp.directory_service import Store
from splp.directory_service.backup import EPHEMERAL, dump
from splp.directory_service.models import Base
from splp.directory_service.parties import create_party


def _add_party_elsewhere(url: str, done: threading.Event) -> None:
    async def add() -> None:
        other = Store(url)
        try:
            async with other.session() as session:
                await create_party(session, "late", ["requester"])
        finally:
            await other.close()

    asyncio.run(add())
    done.set()


def dangling_references(document: dict[str, Any]) -> list[str]:
    """Foreign keys of the backup that point at no row of the backup."""
    tables = document["tables"]
    found = []
    for table in Base.metadata.sorted_tables:
        if table.name in EPHEMERAL:  # not backed up
            continue
        for column in table.columns:
            for key in column.foreign_keys:
                target, target_column = key.target_fullname.split(".")
                present = {row[target_column] for row in tables[target]}
                for row in tables[table.name]:
                    if row[column.name] is not None and row[column.name] not in present:
                        found.append(f"{table.name}.{column.name}={row[column.name]}")
    return found


async def test_a_change_during_the_backup_is_not_half_in_it(
    store: Store, parties: dict[str, str]
) -> None:
    done = threading.Event()
    writer = threading.Thread(target=_add_party_elsewhere, args=(store.url, done))

    def between_tables(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM api_tokens" in statement and not writer.is_alive() and not done.is_set():
            writer.start()
            # PostgreSQL commits at once; SQLite waits for the backup's read lock to go
            done.wait(2)

    event.listen(store.engine.sync_engine, "before_cursor_execute", between_tables)
    try:
        document = await dump(store)
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", between_tables)
    await asyncio.to_thread(writer.join, 30)
    assert done.is_set(), "the concurrent change never committed"
    assert dangling_references(document) == []
    assert "late" not in {row["name"] for row in document["tables"]["parties"]}
    assert len(document["tables"]["api_tokens"]) == len(parties)
    after = await dump(store)
    assert "late" in {row["name"] for row in after["tables"]["parties"]}
