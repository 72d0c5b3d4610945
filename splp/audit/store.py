"""The audit store: appends screened events to the hash chain, once each.

>>> store = AuditStore("sqlite+aiosqlite:///splp.db")  # doctest: +SKIP
>>> await store.migrate()                               # doctest: +SKIP
>>> await store.append([(event, None)])                 # doctest: +SKIP
1
>>> await store.append([(event, None, Sent("dinsos"))])  # doctest: +SKIP

An entry is ``(event, flag)`` for what the audit process writes itself (its sender is
``None``), or ``(event, flag, Sent(sender, provenance))`` for an event received from the
bus (see :mod:`splp.audit.provenance`).

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
from splp.audit.provenance import Sent
from splp.audit.records import AuditAnchor, AuditRecord, copied_columns
from splp.audit.screen import Screened, event_id_of
from splp.db import Migrations, create_engine

MIGRATIONS = Migrations(
    Path(__file__).resolve().parent / "migrations", version_table="splp_audit_alembic_version"
)
ADVISORY_LOCK = 0x5350_4C50  # "SPLP"
ID_CHUNK = 900
LOCAL = Sent(None)

Entry = Screened | tuple[dict[str, Any], str | None, Sent]
"""An event to store, its flag, and (for an event from the bus) its sender."""


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

    async def append(self, screened: Iterable[Entry]) -> int:
        """Store the events not stored yet; returns how many were new."""
        batch: dict[str, tuple[dict[str, Any], str | None, Sent]] = {}
        for entry in screened:
            event, flag = entry[0], entry[1]
            sent = entry[2] if len(entry) == 3 else LOCAL
            batch.setdefault(event_id_of(event), (event, flag, sent))
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
            for event_id, (event, flag, sent) in batch.items():
                seq += 1
                event_json = canonical_json(event)
                digest = record_hash(
                    event,
                    seq,
                    prev_hash,
                    flag,
                    sent.sender,
                    sent.provenance,
                    event_json=event_json,
                )
                rows.append(
                    {
                        "seq": seq,
                        "event_id": event_id,
                        "at": event_time(event, now),
                        **copied_columns(event),
                        "event": event_json.decode(),
                        "flag": flag,
                        "sender": sent.sender,
                        "provenance": sent.provenance,
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

    async def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last record; ``(0, GENESIS)`` for an empty chain."""
        async with self.engine.connect() as connection:
            row = (
                await connection.execute(
                    select(AuditRecord.seq, AuditRecord.hash)
                    .order_by(AuditRecord.seq.desc())
                    .limit(1)
                )
            ).first()
        return (int(row[0]), str(row[1])) if row is not None else (0, GENESIS)

    async def add_anchor(self, anchor: dict[str, Any]) -> None:
        """Store a signed head: ``seq``, ``hash``, ``signed_at``, ``key_id``, ``public_key``,
        ``signature``."""
        async with self.engine.begin() as connection:
            await connection.execute(insert(AuditAnchor), [anchor])

    async def anchors(self, *, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Signed heads with ``id > after``, oldest first."""
        query = (
            select(AuditAnchor).where(AuditAnchor.id > after).order_by(AuditAnchor.id).limit(limit)
        )
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            {
                "id": row.id,
                "seq": row.seq,
                "hash": row.hash,
                "signed_at": row.signed_at.isoformat().replace("+00:00", "Z"),
                "key_id": row.key_id,
                "public_key": row.public_key,
                "signature": row.signature,
            }
            for row in rows
        ]

    async def anchor_keys(self) -> list[tuple[str, str]]:
        """``(key_id, public_key)`` of every key that signed an anchor."""
        query = select(AuditAnchor.key_id, AuditAnchor.public_key).distinct()
        async with self.engine.connect() as connection:
            return [(str(k), str(p)) for k, p in (await connection.execute(query)).all()]

    async def close(self) -> None:
        await self.engine.dispose()
