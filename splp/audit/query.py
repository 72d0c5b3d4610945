"""Reading the audit store: filtered pages of records, newest last, by ``seq`` keyset.

>>> filters = Filters(service="dukcapil.penduduk")
>>> page = await records(store, filters, after=0, limit=100)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Select, or_, select

from splp.audit.records import AuditRecord, counted
from splp.audit.store import AuditStore


@dataclass(frozen=True, slots=True)
class Filters:
    """Which records: ``service`` is ``SERVICE``, ``PUBLISHER.SERVICE`` or ``…vMAJOR``."""

    since: datetime | None = None
    until: datetime | None = None
    kind: str | None = None
    service: str | None = None
    requester: str | None = None
    status: int | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.since is not None:
            query = query.where(AuditRecord.at >= self.since)
        if self.until is not None:
            query = query.where(AuditRecord.at < self.until)
        if self.kind is not None:
            query = query.where(AuditRecord.kind == self.kind)
        if self.requester is not None:
            query = query.where(AuditRecord.requester == self.requester)
        if self.status is not None:
            query = query.where(AuditRecord.status == self.status)
        if self.service:
            parts = self.service.split(".")
            query = query.where(AuditRecord.service == parts[-1 if len(parts) < 3 else 1])
            if len(parts) >= 2:
                query = query.where(AuditRecord.publisher == parts[0])
            if len(parts) >= 3 and parts[2].startswith("v") and parts[2][1:].isdigit():
                query = query.where(AuditRecord.major == int(parts[2][1:]))
        return query

    def matches(self, event: dict[str, Any]) -> bool:
        """Whether an event (not yet stored: for a live tail) passes the filters other
        than time."""
        if self.kind is not None and event.get("kind") != self.kind:
            return False
        if self.requester is not None and event.get("requester") != self.requester:
            return False
        if self.status is not None and event.get("status") != self.status:
            return False
        if self.service:
            parts = self.service.split(".")
            wanted = {"service": parts[-1 if len(parts) < 3 else 1]}
            if len(parts) >= 2:
                wanted["publisher"] = parts[0]
            if len(parts) >= 3 and parts[2].startswith("v") and parts[2][1:].isdigit():
                wanted["major"] = int(parts[2][1:])  # type: ignore[assignment]
            return all(event.get(k) == v for k, v in wanted.items())
        return True


def as_dict(record: Any) -> dict[str, Any]:
    """A record as the API shows it: everything its hash covers, and the hash.

    These are the members of a record in an export bundle (``docs/audit.md``).
    """
    return {
        "seq": record.seq,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
        "flag": record.flag,
        "sender": record.sender,
        "provenance": record.provenance,
        "event": orjson.loads(record.event),
    }


async def records(
    store: AuditStore,
    filters: Filters,
    *,
    after: int = 0,
    limit: int = 100,
    latest: bool = False,
) -> list[dict[str, Any]]:
    """Up to ``limit`` records with ``seq > after`` that match ``filters``, oldest first;
    with ``latest``, the last ``limit`` of them (still oldest first)."""
    query = filters.apply(select(AuditRecord).where(AuditRecord.seq > after))
    order = AuditRecord.seq.desc() if latest else AuditRecord.seq
    async with store.engine.connect() as connection:
        rows = (await connection.execute(query.order_by(order).limit(limit))).all()
    return [as_dict(row) for row in (reversed(rows) if latest else rows)]


async def subject_records(
    store: AuditStore, filters: Filters, subjects: list[str], *, limit: int = 10_000
) -> list[dict[str, Any]]:
    """The counted records (:func:`~splp.audit.records.counted`) whose event carries one
    of ``subjects`` (``k<id>:<hex>`` HMACs of one data subject under each key,
    :mod:`splp.bus.subject`), oldest first: an event forged by a sender that may not speak
    for it is not an access.

    Events are stored as canonical JSON (RFC 8785: no spaces), so the member reads
    exactly ``"subject":"k3:..."``; an HMAC holds only ``k``, digits, ``:`` and hex.
    """
    wanted = [s for s in subjects if s.replace(":", "").isalnum()]
    if not wanted:
        return []
    query = filters.apply(select(AuditRecord)).where(
        counted(), or_(*(AuditRecord.event.contains(f'"subject":"{s}"') for s in wanted))
    )
    async with store.engine.connect() as connection:
        rows = (await connection.execute(query.order_by(AuditRecord.seq).limit(limit))).all()
    return [as_dict(row) for row in rows]
