"""The chain's verification status, for ``GET /audit/verify`` (a monitor's page).

A bounded check, not the whole chain (``splp audit verify`` reads every record):

* the head (``seq``, ``hash``);
* the latest signed anchor: does the record it names still have its hash, and does its
  signature verify against its public key; is that key the one of this process's key
  file (``SPLP_AUDIT_SIGNING_KEY_FILE``), when it can read it. Whether the key is the
  sink's is for the auditor to confirm by another channel (``/audit/keys``);
* the records since that anchor (or, without a sound anchor, the last ``limit`` records,
  whose start is then taken as it stands), at most ``limit`` of them, each checked as
  :func:`splp.audit.verify.verify` checks it.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

from sqlalchemy import select

from splp.audit.chain import GENESIS, signed_head
from splp.audit.keys import SigningKey, check_signature, key_id_of, load_public_key
from splp.audit.records import AuditAnchor, AuditRecord
from splp.audit.store import AuditStore
from splp.audit.verify import Segment, chain_start, verify_segment
from splp.errors import ConfigurationError


def _served_key_id(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return SigningKey.load(path).key_id
    except ConfigurationError:
        return None  # the key lives with the sink, not necessarily in this process


def signature_verifies(anchor: Any) -> bool:
    """Whether ``anchor``'s signature is its key's, over its ``(seq, hash)``, and its
    ``key_id`` names that key."""
    try:
        public = load_public_key(anchor.public_key)
        signature = base64.b64decode(anchor.signature, validate=True)
    except (ConfigurationError, binascii.Error, ValueError):
        return False
    return key_id_of(public) == anchor.key_id and check_signature(
        public, signature, signed_head(anchor.seq, anchor.hash)
    )


async def chain_status(store: AuditStore, key_file: Path | None, limit: int) -> dict[str, Any]:
    """The status described in the module docstring, as JSON-ready data."""
    head_seq, head_hash = await store.head()
    async with store.engine.connect() as connection:
        latest = (
            await connection.execute(
                select(AuditAnchor, AuditRecord.hash.label("record_hash"))
                .outerjoin(AuditRecord, AuditRecord.seq == AuditAnchor.seq)
                .order_by(AuditAnchor.id.desc())
                .limit(1)
            )
        ).first()
    anchor: dict[str, Any] | None = None
    start: tuple[int, str] | str | None = None
    basis = "last-records"
    if latest is not None:
        row: Any = latest
        served = _served_key_id(key_file)
        matches = row.record_hash == row.hash
        valid = signature_verifies(row)
        anchor = {
            "seq": row.seq,
            "hash": row.hash,
            "signed_at": row.signed_at.isoformat().replace("+00:00", "Z"),
            "key_id": row.key_id,
            "public_key": row.public_key,
            "signature_valid": valid,
            "record_matches": matches,
            "record_present": row.record_hash is not None,
            "key_is_served": None if served is None else served == row.key_id,
        }
        if matches and valid:
            start, basis = (row.seq, row.hash), "anchor"
    if start is None:
        start = await _last_records(store, head_seq, limit)
    if isinstance(start, str):  # the chain's start is broken: records were deleted
        segment = Segment(1, 0, 0, False, 1, start)
    else:
        segment = await verify_segment(store, start[0], start[1], limit)
    return {
        "head": {"seq": head_seq, "hash": head_hash},
        "anchor": anchor,
        "segment": {
            "basis": basis,
            "from_seq": segment.first_seq,
            "to_seq": segment.last_seq,
            "checked": segment.checked,
            "limit": limit,
            "reached_head": segment.reached_head,
            "ok": segment.ok,
            "bad_seq": segment.bad_seq,
            "problem": segment.problem,
        },
        "ok": segment.ok
        and (anchor is None or (anchor["signature_valid"] and anchor["record_matches"])),
    }


async def _last_records(store: AuditStore, head: int, limit: int) -> tuple[int, str] | str:
    """Where a check of the last ``limit`` records starts: the record before them, with its
    stored hash (the chain's start, or a prune's checkpoint, when they are all there is)."""
    async with store.engine.connect() as connection:
        begins = await chain_start(connection)
        if isinstance(begins, str):
            return begins
        first, prev_hash = begins
        after = head - limit
        if after < first:
            return first - 1, prev_hash
        found = await connection.scalar(select(AuditRecord.hash).where(AuditRecord.seq == after))
    return after, str(found) if found is not None else GENESIS
