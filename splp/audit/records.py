"""The audit store's tables, ``audit_records`` and ``audit_anchors``, in a metadata of its own.

The audit store has its own Alembic environment and version table
(``splp_audit_alembic_version``), so it can share a database with the directory without
the two migration histories touching.

Columns besides ``event``, ``seq``, ``prev_hash``, ``hash``, ``flag``, ``sender`` and
``provenance`` are copies of
event members, kept for queries and reports; ``splp audit verify`` checks that they still
match the event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    and_,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from splp.db import NAMING, UtcDateTime


class AuditBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


CALLS_INDEX = "ix_audit_records_calls"
CALLS_INDEX_INCLUDE = (
    "kind",
    "publisher",
    "service",
    "major",
    "requester",
    "operation",
    "status",
    "duration_ms",
)
CALLS_INDEX_WHERE = text(
    "provenance IS NULL AND kind IN ('response', 'denied', 'throttled', 'dropped')"
)
"""The reports' covering index of the call events (migration a0006): on PostgreSQL a scan
of a period's calls reads it alone, never the events' text."""


class AuditRecord(AuditBase):
    """One stored event and its link in the hash chain."""

    __tablename__ = "audit_records"
    __table_args__ = (
        Index(
            CALLS_INDEX,
            "at",
            postgresql_include=list(CALLS_INDEX_INCLUDE),
            postgresql_where=CALLS_INDEX_WHERE,
            sqlite_where=CALLS_INDEX_WHERE,
        ),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(80), index=True)
    theme: Mapped[str | None] = mapped_column(String(63), nullable=True)
    publisher: Mapped[str | None] = mapped_column(String(63), nullable=True)
    service: Mapped[str | None] = mapped_column(String(63), nullable=True, index=True)
    operation: Mapped[str | None] = mapped_column(String(63), nullable=True)
    major: Mapped[int | None] = mapped_column(Integer, nullable=True)
    requester: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    event: Mapped[str] = mapped_column(Text)
    flag: Mapped[str | None] = mapped_column(Text, nullable=True)
    sender: Mapped[str | None] = mapped_column(String(255), nullable=True)
    provenance: Mapped[str | None] = mapped_column(Text, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditAnchor(AuditBase):
    """A head of the chain that the sink signed: ``signature`` is Ed25519 over
    :func:`splp.audit.chain.signed_head` of ``(seq, hash)`` by the key ``key_id``."""

    __tablename__ = "audit_anchors"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)
    hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    key_id: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


REJECTED_KIND = "rejected"
"""The kind of the record the sink stores for an event the store refused
(:mod:`splp.audit.rejected`)."""

COUNTED_SQL = f"provenance IS NULL AND kind <> '{REJECTED_KIND}'"
"""The one definition of a *counted* record, as an SQL fragment over ``audit_records``
for the reports written in text SQL: see :func:`counted`. It keeps the words of
:data:`CALLS_INDEX_WHERE`, so a query of the call kinds still uses the covering index."""


def counted() -> ColumnElement[bool]:
    """The records a report may count or list: not those whose sender may not speak for
    them (``provenance`` set, :mod:`splp.audit.provenance`), nor ``rejected`` records
    (which stand for an event the store refused). They stay in the chain, the export,
    ``GET /audit/events`` and ``splp audit tail``; every report, rule and list of accesses
    leaves them out.
    :data:`COUNTED_SQL` is the same condition for text SQL."""
    return and_(AuditRecord.provenance.is_(None), AuditRecord.kind != REJECTED_KIND)


COPIED = (
    "kind",
    "theme",
    "publisher",
    "service",
    "operation",
    "major",
    "requester",
    "status",
    "duration_ms",
)


def copied_columns(event: dict[str, Any]) -> dict[str, Any]:
    """The query columns of ``event``: members of the right type, else ``None``."""
    values: dict[str, Any] = {}
    for name in COPIED:
        value = event.get(name)
        if name in {"major", "status"}:
            ok = isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**31
        elif name == "duration_ms":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str) and len(value) <= (80 if name == "kind" else 63)
            if name == "requester":
                ok = isinstance(value, str) and len(value) <= 255
        values[name] = value if ok else None
    values["kind"] = values["kind"] or "-"
    return values
