"""The hash chain: each record's hash covers its event, its place, its sender and its predecessor.

``hash = SHA-256(JCS(record))``, where JCS is the JSON Canonicalization Scheme of RFC 8785
(the ``rfc8785`` package) and the record is the object
``{"event", "flag", "prev_hash", "provenance", "sender", "seq"}``. Changing an event, its
flag, its sender or its sequence number changes its hash; deleting, inserting or moving a
record breaks the ``prev_hash`` link or the run of sequence numbers after it. The first
record's ``prev_hash`` is :data:`GENESIS`. ``docs/audit.md`` specifies the same for a
verifier written in another language.

The head that the sink signs (into the ``anchors`` table, and at the end of an export) is
:func:`signed_head`: ``JCS({"context": "splp-audit-head/1", "hash": H, "seq": N})``.

>>> first = record_hash({"id": "a"}, 1, GENESIS)
>>> len(first), first == record_hash({"id": "a"}, 1, GENESIS)
(64, True)
>>> first == record_hash({"id": "a"}, 2, GENESIS)
False
>>> first == record_hash({"id": "a"}, 1, GENESIS, sender="dinsos")
False
>>> canonical_json({"b": 1.0, "a": "\u00e9"})
b'{"a":"\\xc3\\xa9","b":1}'
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import rfc8785

GENESIS = "0" * 64
HEAD_CONTEXT = "splp-audit-head/1"
MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer JCS (and every JavaScript verifier) represents exactly."""

CanonicalizationError = rfc8785.CanonicalizationError


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 (JCS) form of ``value``: one byte string for one JSON value.

    Raises :class:`CanonicalizationError` (a ``ValueError``) for what JSON cannot hold
    exactly: integers beyond +-(2^53 - 1), NaN, infinities.

    The ``rfc8785`` package is pure Python (about 90 us a record, half the sink's
    throughput); orjson writes strings, integers, ``true``/``false``/``null`` and ASCII
    member names exactly as JCS does, so values made only of those (floats written as JCS
    numbers first) go through orjson, and anything else through ``rfc8785``.
    ``tests/audit/test_bundle.py`` checks that both give the same bytes.
    """
    prepared = _prepared(value)
    if prepared is _SLOW:
        return rfc8785.dumps(value)
    return orjson.dumps(prepared, option=orjson.OPT_SORT_KEYS)


_SLOW = object()


def _prepared(value: Any) -> Any:
    """``value`` with floats as JCS number fragments, or ``_SLOW`` if orjson would differ."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else _SLOW
    if kind is float:
        number = _jcs_float(value)
        return _SLOW if number is None else orjson.Fragment(number)
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                return _SLOW  # JCS sorts by UTF-16 code units, orjson by UTF-8 bytes
            item_kind = type(item)
            if item_kind is str or item_kind is bool or item is None:
                out[key] = item
                continue
            prepared = _prepared(item)
            if prepared is _SLOW:
                return _SLOW
            out[key] = prepared
        return out
    if kind is list or kind is tuple:
        items = []
        for item in value:
            prepared = _prepared(item)
            if prepared is _SLOW:
                return _SLOW
            items.append(prepared)
        return items
    return _SLOW  # a subclass of a JSON type, or no JSON type: let rfc8785 judge


def _jcs_float(value: float) -> bytes | None:
    """The ECMAScript form of ``value`` where Python's ``repr`` gives it, else ``None``."""
    if value != value or value in (float("inf"), float("-inf")):
        return None
    magnitude = abs(value)
    if value.is_integer() and magnitude < 1e16:
        return str(int(value)).encode()
    if 1e-4 <= magnitude < 1e16:
        return repr(value).encode()  # shortest round-trip digits, no exponent: as ES6
    return None


def sorted_json(value: Any) -> bytes:
    """Sorted-key compact JSON of any decoded value (for sizes and digests that name an
    event, never for a record's hash)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def canonical_record(
    event: dict[str, Any],
    seq: int,
    prev_hash: str,
    flag: str | None,
    sender: str | None = None,
    provenance: str | None = None,
    *,
    event_json: bytes | None = None,
) -> bytes:
    """The bytes that a record's hash is taken of: the JCS of the six members.

    The members are written in their JCS order (``event``, ``flag``, ``prev_hash``,
    ``provenance``, ``sender``, ``seq``), so that ``event_json``, the event's own JCS when
    the caller has it already, is not computed twice.
    """
    body = canonical_json(event) if event_json is None else event_json
    # strings and null: orjson writes them exactly as JCS does (see canonical_json)
    return b"".join(
        (
            b'{"event":',
            body,
            b',"flag":',
            orjson.dumps(flag),
            b',"prev_hash":',
            orjson.dumps(prev_hash),
            b',"provenance":',
            orjson.dumps(provenance),
            b',"sender":',
            orjson.dumps(sender),
            b',"seq":',
            canonical_json(seq),
            b"}",
        )
    )


def representable(value: Any) -> bool:
    """Whether JCS can write ``value`` (no integer beyond +-(2^53 - 1), no NaN)."""
    if _prepared(value) is not _SLOW:
        return True
    try:
        rfc8785.dumps(value)
    except CanonicalizationError:
        return False
    return True


def record_hash(
    event: dict[str, Any],
    seq: int,
    prev_hash: str,
    flag: str | None = None,
    sender: str | None = None,
    provenance: str | None = None,
    *,
    event_json: bytes | None = None,
) -> str:
    """The hex SHA-256 of the canonical record."""
    canonical = canonical_record(
        event, seq, prev_hash, flag, sender, provenance, event_json=event_json
    )
    return hashlib.sha256(canonical).hexdigest()


def signed_head(seq: int, digest: str) -> bytes:
    """The bytes an Ed25519 signature of the head ``(seq, digest)`` is made over."""
    return canonical_json({"context": HEAD_CONTEXT, "hash": digest, "seq": seq})
