"""The audit store: appends screened events to the hash chain, once each.

>>> store = AuditStore("sqlite+aiosqlite:///splp.db")  # doctest: +SKIP
>>> await store.migrate()                               # doctest: +SKIP
>>> await store.append([(event, None)])                 # doctest: +SKIP
1

:meth:`AuditStore.append` runs in one transaction: it leaves out events whose id is stored
already (or repeats within the batch), reads the chain's head, numbers and hashes the
rest, and inserts them. The unique constraint on ``event_id`` and the primary key on
``seq`` are the safety net: should a second sink write at the same moment, one
transaction fails and its batch is retried (it was not acked), so the chain never forks
and an event is never stored twice. On PostgreSQL an advisory lock makes concurrent
sinks take turns instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from splp.audit.chain import GENESIS, canonical_json, record_hash
from splp.audit.records import AuditRecord, copied_columns
from splp.audit.screen import Screened, event_id_of
from splp.db import Migrations, create_engine

MIGRATIONS = Migrations(
    Path(__file__).resolve().parent / "migrations", version_table="splp_audit_alembic_version"
)
ADVISORY_LOCK = 0x5350_4C50  # "SPLP"
ID_CHUNK = 900


def event_time(event: dict[str, Any], fallback: datetime) -> datetime:
    """The event's ``time`` as an aware datetime, or ``fallback`` if it has none usable."""
    value = event.get("time")
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (ValueError, OverflowError):  # e.g. 9999-12-31T23:59:59-14:00 is past year 9999
            return fallback
    return fallback


class AuditStore:
    """The hash-chained audit records on SQLite or PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        # the sink and the broker events' recorder share a store: appending in turn spares
        # SQLite a conflict on the next seq (PostgreSQL also takes an advisory lock)
        self._appending = asyncio.Lock()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def migrate(self) -> None:
        await MIGRATIONS.upgrade(self.engine)

    async def revision(self) -> str | None:
        return await MIGRATIONS.revision(self.engine)

    async def append(self, screened: Iterable[Screened]) -> int:
        """Store the events not stored yet; returns how many were new."""
        batch: dict[str, Screened] = {}
        for event, flag in screened:
            batch.setdefault(event_id_of(event), (event, flag))
        if not batch:
            return 0
        async with self._appending, self.engine.begin() as connection:
            if self.dialect == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK}
                )
            for stored in await self._stored_ids(connection, list(batch)):
                del batch[stored]
            if not batch:
                return 0
            head = (
                await connection.execute(
                    select(AuditRecord.seq, AuditRecord.hash)
                    .order_by(AuditRecord.seq.desc())
                    .limit(1)
                )
            ).first()
            seq, prev_hash = (head[0], head[1]) if head is not None else (0, GENESIS)
            now = datetime.now(UTC)
            rows = []
            for event_id, (event, flag) in batch.items():
                seq += 1
                digest = record_hash(event, seq, prev_hash, flag)
                rows.append(
                    {
                        "seq": seq,
                        "event_id": event_id,
                        "at": event_time(event, now),
                        **copied_columns(event),
                        "event": canonical_json(event).decode(),
                        "flag": flag,
                        "prev_hash": prev_hash,
                        "hash": digest,
                    }
                )
                prev_hash = digest
            await connection.execute(insert(AuditRecord), rows)
        return len(rows)

    @staticmethod
    async def _stored_ids(connection: AsyncConnection, ids: list[str]) -> set[str]:
        stored: set[str] = set()
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start : start + ID_CHUNK]
            result = await connection.scalars(
                select(AuditRecord.event_id).where(AuditRecord.event_id.in_(chunk))
            )
            stored.update(result)
        return stored

    async def count(self) -> int:
        async with self.engine.connect() as connection:
            return int(
                (await connection.scalar(select(func.count()).select_from(AuditRecord))) or 0
            )

    async def close(self) -> None:
        await self.engine.dispose()
