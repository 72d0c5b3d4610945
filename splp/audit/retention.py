"""Retention: prune the oldest records and keep the rest verifiable from a checkpoint.

Musi Banyuasin reg. 48/2024 Pasal 64(8) keeps audit records for at least two years, so
:func:`prune` refuses a ``before`` later than two years ago unless ``force`` is given.

A prune removes a *prefix* of the chain: the records from the first one up to the last
one before the first record whose time is ``before`` or later (a late record older than
``before`` that follows a younger one stays). It verifies the whole chain first (a
prune must not erase the evidence of a break), then appends a ``checkpoint`` record
through the chain's ordinary append, and only then deletes the prefix::

    {"id": "...", "time": "...", "kind": "checkpoint", "source": "splp audit prune",
     "actor": "operator", "before": "2024-01-01T00:00:00Z", "forced": false,
     "first_seq": 1, "last_seq": 1200, "count": 1200, "last_hash": "3f5a..."}

The checkpoint is the audit record of the prune, and the start of the chain for
:func:`splp.audit.verify`: the first remaining record (``last_seq + 1``) must link to
``last_hash``. Should the process stop between the two steps, the checkpoint stays and
nothing is deleted; the chain still verifies, and the prune can be run again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, text

from splp.audit.records import AuditRecord
from splp.audit.store import ADVISORY_LOCK, AuditStore
from splp.audit.verify import CHECKPOINT_KIND, verify
from splp.errors import ConfigurationError, SplpError

RETENTION_YEARS = 2
SOURCE = "splp audit prune"


class ChainBroken(SplpError):
    """The chain (or a backup's chain) does not verify, so it is left as it is."""


@dataclass(frozen=True, slots=True)
class Pruned:
    """What :func:`prune` removed: records ``first_seq`` to ``last_seq``, and its checkpoint."""

    count: int
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    checkpoint_seq: int | None = None


def retention_limit(now: datetime) -> datetime:
    """The latest ``before`` a prune may use without ``force``: ``now`` two years back.

    >>> retention_limit(datetime(2026, 11, 30, tzinfo=UTC)).isoformat()
    '2024-11-30T00:00:00+00:00'
    >>> retention_limit(datetime(2028, 2, 29, tzinfo=UTC)).date().isoformat()
    '2026-02-28'
    """
    year = now.year - RETENTION_YEARS
    try:
        return now.replace(year=year)
    except ValueError:  # 29 February
        return now.replace(year=year, day=28)


async def prune(
    store: AuditStore,
    before: datetime,
    *,
    actor: str,
    force: bool = False,
    now: datetime | None = None,
) -> Pruned:
    """Delete the records older than ``before`` (a prefix of the chain) behind a checkpoint.

    Refuses (:class:`~splp.errors.ConfigurationError`) a ``before`` younger than two years
    unless ``force``, and (:class:`ChainBroken`) a chain that does not verify.
    """
    if before.tzinfo is None:
        before = before.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    limit = retention_limit(now)
    if before > limit and not force:
        raise ConfigurationError(
            f"records younger than {RETENTION_YEARS} years are kept (Musi Banyuasin Pasal "
            f"64(8)): --before must be {limit.date().isoformat()} or earlier, or give --force"
        )
    verdict = await verify(store)
    if not verdict.ok:
        raise ChainBroken(f"the chain does not verify, nothing pruned: {verdict.problem}")
    async with store.engine.connect() as connection:
        first = await connection.scalar(select(func.min(AuditRecord.seq)))
        younger = await connection.scalar(
            select(func.min(AuditRecord.seq)).where(AuditRecord.at >= before)
        )
        last = (younger - 1) if younger is not None else verdict.head_seq
        if first is None or last < first:
            return Pruned(0)
        last_hash = await connection.scalar(select(AuditRecord.hash).where(AuditRecord.seq == last))
    assert isinstance(last_hash, str)
    checkpoint = {
        "id": uuid.uuid4().hex,
        "time": _z(now),
        "kind": CHECKPOINT_KIND,
        "source": SOURCE,
        "actor": actor[:255],
        "before": _z(before),
        "forced": force,
        "first_seq": first,
        "last_seq": last,
        "count": last - first + 1,
        "last_hash": last_hash,
    }
    await store.append([(checkpoint, None)])
    async with store.engine.begin() as connection:
        if store.dialect == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK}
            )
        await connection.execute(delete(AuditRecord).where(AuditRecord.seq <= last))
        checkpoint_seq = await connection.scalar(
            select(AuditRecord.seq).where(AuditRecord.event_id == checkpoint["id"])
        )
    return Pruned(last - first + 1, first, last, last_hash, checkpoint_seq)


def _z(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
