"""Verification of the chain: the first record that was modified, deleted, inserted or moved.

Records are read in ``seq`` order. Record *n* is sound when its ``seq`` is *n* (else a
record before it was deleted or one was inserted), its ``hash`` is the hash of its
canonical record (else it was modified, or moved to another place, since ``seq`` is
hashed too), its ``prev_hash`` is the previous record's ``hash`` (else a record was
inserted, deleted or moved before it), and its query columns match its event.

A chain whose oldest records were pruned (``splp audit prune``) starts at the record after
the last pruned one: the ``checkpoint`` record that the prune appended names that record
(``last_seq``) and its hash (``last_hash``), and the first remaining record must link to
it. The checkpoint itself is a link of the chain, so it cannot be edited unseen.

A chain can be rewritten whole from some point on by someone who can write the database,
or cut at its end; neither leaves a break inside. Against that, write down the head
(``seq`` and ``hash``) that ``verify`` prints, somewhere else, and pass it back as
``anchor`` at the next audit; the sink's signed anchors (:mod:`splp.audit.anchors`) do
that on their own. :mod:`splp.audit.bundle` checks an exported bundle without a database.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from splp.audit.chain import GENESIS, record_hash, signed_head
from splp.audit.keys import check_signature, key_id_of
from splp.audit.records import AuditAnchor, AuditRecord, copied_columns
from splp.audit.screen import event_id_of
from splp.audit.store import AuditStore, event_time

PAGE = 5000
CHECKPOINT_KIND = "checkpoint"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of :func:`verify`: ``ok``, or the first bad record and what is wrong."""

    records: int
    head_seq: int
    head_hash: str
    bad_seq: int | None = None
    bad_event_id: str | None = None
    problem: str | None = None
    first_seq: int = 1

    @property
    def ok(self) -> bool:
        return self.problem is None


async def verify(
    store: AuditStore,
    anchor: tuple[int, str] | None = None,
    public_key: Ed25519PublicKey | None = None,
    *,
    connection: AsyncConnection | None = None,
) -> Verdict:
    """Check the whole chain of ``store``; ``anchor`` is a ``(seq, hash)`` recorded earlier.

    The signed anchors of the store are checked too: each must name a record with its
    hash (anchors of pruned records are left out), and with ``public_key`` its signature
    must verify (anchors of other keys are then refused as well).

    ``connection`` reads inside a transaction of the caller's (a restore checks the rows
    it has inserted before it commits them).
    """
    count = 0
    anchored = anchor is None
    async with contextlib.AsyncExitStack() as stack:
        if connection is None:
            connection = await stack.enter_async_context(store.engine.connect())
        start = await chain_start(connection)
        if isinstance(start, str):
            return Verdict(0, 0, GENESIS, 1, None, start)
        expected, prev_hash = start
        first = expected
        if anchor is not None and anchor[0] < first:
            if anchor != (first - 1, prev_hash):
                return Verdict(
                    0,
                    first - 1,
                    prev_hash,
                    anchor[0],
                    None,
                    f"record {anchor[0]} of the anchor was pruned and the checkpoint does not "
                    "confirm it: verify against a newer anchor",
                    first,
                )
            anchored = True
        last = first - 1
        while True:
            rows = (
                await connection.execute(
                    select(AuditRecord)
                    .where(AuditRecord.seq > last)
                    .order_by(AuditRecord.seq)
                    .limit(PAGE)
                )
            ).all()
            if not rows:
                break
            for row in rows:
                record: Any = row
                problem = _check(record, expected, prev_hash)
                if problem is not None:
                    bad_seq = expected if record.seq > expected else record.seq
                    bad_id = record.event_id if bad_seq == record.seq else None
                    return Verdict(count, expected - 1, prev_hash, bad_seq, bad_id, problem, first)
                if anchor is not None and record.seq == anchor[0]:
                    if record.hash != anchor[1]:
                        return Verdict(
                            count,
                            record.seq,
                            record.hash,
                            record.seq,
                            record.event_id,
                            f"record {record.seq} differs from the anchor: the chain was "
                            "rewritten up to it",
                            first,
                        )
                    anchored = True
                prev_hash, expected, count = record.hash, expected + 1, count + 1
            last = rows[-1].seq
        signed = await _check_anchors(connection, public_key, first)
    if not anchored:
        assert anchor is not None
        return Verdict(
            count,
            expected - 1,
            prev_hash,
            anchor[0],
            None,
            f"record {anchor[0]} of the anchor is gone: the chain was cut after record "
            f"{expected - 1}",
            first,
        )
    if signed is not None:
        return Verdict(count, expected - 1, prev_hash, signed[0], None, signed[1], first)
    return Verdict(count, expected - 1, prev_hash, first_seq=first)


async def chain_start(connection: AsyncConnection) -> tuple[int, str] | str:
    """``(first seq, hash it must link to)``, or what is wrong with the chain's start."""
    first = await connection.scalar(select(func.min(AuditRecord.seq)))
    if first is None or first <= 1:
        return 1, GENESIS
    checkpoints = await connection.scalars(
        select(AuditRecord.event)
        # a checkpoint published on the bus by anyone else is flagged by the screening
        .where(
            AuditRecord.kind == CHECKPOINT_KIND,
            AuditRecord.flag.is_(None),
            AuditRecord.seq >= first,
        )
        .order_by(AuditRecord.seq.desc())
    )
    for text in checkpoints:
        with contextlib.suppress(orjson.JSONDecodeError):
            event = orjson.loads(text)
            if (
                isinstance(event, dict)
                and event.get("last_seq") == first - 1
                and isinstance(event.get("last_hash"), str)
            ):
                return first, event["last_hash"]
    return (
        f"records 1 to {first - 1} are missing and no checkpoint of a prune accounts for "
        "them: deleted"
    )


async def _check_anchors(
    connection: AsyncConnection, public_key: Ed25519PublicKey | None, first: int
) -> tuple[int, str] | None:
    key_id = key_id_of(public_key) if public_key is not None else None
    after = 0
    while True:
        rows = (
            await connection.execute(
                select(AuditAnchor, AuditRecord.hash.label("record_hash"))
                .outerjoin(AuditRecord, AuditRecord.seq == AuditAnchor.seq)
                .where(AuditAnchor.id > after, AuditAnchor.seq >= first)
                .order_by(AuditAnchor.id)
                .limit(PAGE)
            )
        ).all()
        if not rows:
            return None
        for row in rows:
            anchor: Any = row
            if row.record_hash is None:
                return anchor.seq, f"record {anchor.seq} of a signed anchor is gone"
            if row.record_hash != anchor.hash:
                return anchor.seq, (
                    f"record {anchor.seq} differs from its signed anchor: the chain was "
                    "rewritten up to it"
                )
            if public_key is None:
                continue
            if anchor.key_id != key_id:
                return (
                    anchor.seq,
                    f"the anchor of record {anchor.seq} was signed by another key",
                )
            try:
                signature = base64.b64decode(anchor.signature, validate=True)
            except (binascii.Error, ValueError):
                signature = b""
            if not check_signature(public_key, signature, signed_head(anchor.seq, anchor.hash)):
                return (
                    anchor.seq,
                    f"the signature of the anchor of record {anchor.seq} does not verify",
                )
        after = rows[-1].id


def _check(record: Any, expected: int, prev_hash: str) -> str | None:
    if record.seq > expected:
        return f"record {expected} is missing: deleted (the next one is {record.seq})"
    if record.seq < expected:
        return f"record {record.seq} is out of order"
    try:
        event = orjson.loads(record.event)
    except orjson.JSONDecodeError:
        return f"record {record.seq} was modified: its event is not JSON"
    if (
        not isinstance(event, dict)
        or record_hash(
            event, record.seq, record.prev_hash, record.flag, record.sender, record.provenance
        )
        != record.hash
    ):
        return f"record {record.seq} was modified or moved: its hash does not match its content"
    if record.prev_hash != prev_hash:
        return (
            f"record {record.seq} does not follow record {record.seq - 1}: a record was "
            "inserted, deleted or moved before it"
        )
    copied = {**copied_columns(event), "event_id": event_id_of(event)}
    for name, value in copied.items():
        if getattr(record, name) != value:
            return f"record {record.seq} was modified: its column {name} does not match its event"
    at: datetime = record.at
    if event_time(event, at) != at:
        return f"record {record.seq} was modified: its column at does not match its event"
    return None


@dataclass(frozen=True, slots=True)
class Segment:
    """The outcome of :func:`verify_segment`: the records ``first_seq..last_seq`` checked
    (``checked`` of them), whether the head was reached, or the first bad record."""

    first_seq: int
    last_seq: int
    checked: int
    reached_head: bool
    bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


async def verify_segment(store: AuditStore, after_seq: int, after_hash: str, limit: int) -> Segment:
    """Check at most ``limit`` records after ``(after_seq, after_hash)`` (a signed anchor,
    or a record taken as it stands): each must be the next, hash to itself and link to
    the one before, as :func:`verify` checks the whole chain. Bounded: it reads
    ``limit + 1`` records at most."""
    expected, prev_hash, count = after_seq + 1, after_hash, 0
    async with store.engine.connect() as connection:
        while count < limit:
            rows = (
                await connection.execute(
                    select(AuditRecord)
                    .where(AuditRecord.seq > expected - 1)
                    .order_by(AuditRecord.seq)
                    .limit(min(PAGE, limit - count))
                )
            ).all()
            if not rows:
                return Segment(after_seq + 1, expected - 1, count, True)
            for row in rows:
                record: Any = row
                problem = _check(record, expected, prev_hash)
                if problem is not None:
                    bad = expected if record.seq > expected else record.seq
                    return Segment(after_seq + 1, expected - 1, count, False, bad, problem)
                prev_hash, expected, count = record.hash, expected + 1, count + 1
        more = await connection.scalar(
            select(AuditRecord.seq).where(AuditRecord.seq >= expected).limit(1)
        )
    return Segment(after_seq + 1, expected - 1, count, more is None)
