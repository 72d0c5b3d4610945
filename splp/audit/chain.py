"""The hash chain: each record's hash covers its event, its place and its predecessor.

``hash = SHA-256(canonical record)``, where the canonical record is the sorted-key,
compact JSON (UTF-8) of ``{"event", "flag", "prev_hash", "seq"}``. Changing an event,
its flag or its sequence number changes its hash; deleting, inserting or moving a record
breaks the ``prev_hash`` link or the run of sequence numbers after it.

>>> first = record_hash({"id": "a"}, 1, GENESIS)
>>> len(first), first == record_hash({"id": "a"}, 1, GENESIS)
(64, True)
>>> first == record_hash({"id": "a"}, 2, GENESIS)
False
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

GENESIS = "0" * 64


def canonical_json(value: Any) -> bytes:
    """Sorted-key compact JSON: one byte string for one value."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def canonical_record(event: dict[str, Any], seq: int, prev_hash: str, flag: str | None) -> bytes:
    return canonical_json({"event": event, "flag": flag, "prev_hash": prev_hash, "seq": seq})


def record_hash(event: dict[str, Any], seq: int, prev_hash: str, flag: str | None = None) -> str:
    """The hex SHA-256 of the canonical record."""
    return hashlib.sha256(canonical_record(event, seq, prev_hash, flag)).hexdigest()
