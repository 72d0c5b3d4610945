"""Export bundles: a run of the chain, its head and the sink's signature, checked offline.

A bundle (``schemas/audit-bundle.schema.json``, specified in ``docs/audit.md``) is one
JSON object::

    {"format": "splp-audit-bundle/1", "exported_at": ..., "from": DAY, "to": DAY,
     "records": [{"seq", "prev_hash", "hash", "flag", "sender", "provenance", "event"}, ...],
     "head": {"seq": N, "hash": H},
     "signature": {"algorithm": "Ed25519", "key_id": K, "public_key": B64, "value": B64},
     "anchors": [{"seq", "hash", "signed_at", "key_id", "public_key", "signature"}, ...]}

:func:`check_bundle` needs no database and no settings: only the bundle and the sink's
public key, which the auditor got from the operator by another channel (the key inside
the bundle is only a hint; it must match the one given).

>>> check_bundle({"format": "x"}, SigningKey.generate().public).problem
"not an SPLP audit bundle: format is not 'splp-audit-bundle/1'"
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from splp.audit.chain import GENESIS, CanonicalizationError, canonical_record, signed_head
from splp.audit.keys import SigningKey, check_signature, key_id_of

FORMAT = "splp-audit-bundle/1"
RECORD_MEMBERS = ("seq", "prev_hash", "hash", "flag", "sender", "provenance", "event")


@dataclass(frozen=True, slots=True)
class BundleVerdict:
    """The outcome of :func:`check_bundle`: ``ok``, or the first problem and its record."""

    records: int
    first_seq: int | None = None
    head_seq: int | None = None
    head_hash: str | None = None
    anchors: int = 0
    bad_seq: int | None = None
    bad_event_id: str | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _b64(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _is_hash(value: Any) -> bool:
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )


def check_bundle(bundle: Any, public: Ed25519PublicKey) -> BundleVerdict:
    """Check every record's hash and link, the head, its signature and the anchors."""
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        return BundleVerdict(0, problem=f"not an SPLP audit bundle: format is not {FORMAT!r}")
    records = bundle.get("records")
    if not isinstance(records, list) or not records:
        return BundleVerdict(0, problem="the bundle holds no records")
    verdict = _check_records(records)
    if not verdict.ok:
        return verdict
    head = bundle.get("head")
    last = records[-1]
    if (
        not isinstance(head, dict)
        or head.get("seq") != last["seq"]
        or head.get("hash") != last["hash"]
    ):
        return _bad(verdict, last, "the head is not the last record of the bundle")
    signature = bundle.get("signature")
    if not isinstance(signature, dict) or signature.get("algorithm") != "Ed25519":
        return _bad(verdict, None, "the bundle has no Ed25519 signature of its head")
    key_id = key_id_of(public)
    if signature.get("key_id") != key_id:
        return _bad(
            verdict,
            None,
            f"the head was signed by key {str(signature.get('key_id'))[:16]!r}, not by the "
            f"given key {key_id!r}",
        )
    value = _b64(signature.get("value"))
    if value is None or not check_signature(public, value, signed_head(last["seq"], last["hash"])):
        return _bad(verdict, last, "the signature of the head does not verify with the given key")
    by_seq = {record["seq"]: record for record in records}
    anchors = bundle.get("anchors", [])
    if not isinstance(anchors, list):
        return _bad(verdict, None, "anchors is not a list")
    checked = 0
    for anchor in anchors:
        problem = _check_anchor(anchor, by_seq, public, key_id)
        if problem is not None:
            seq = anchor.get("seq") if isinstance(anchor, dict) else None
            return _bad(verdict, by_seq.get(seq), problem)
        checked += 1
    return BundleVerdict(
        verdict.records, verdict.first_seq, last["seq"], last["hash"], anchors=checked
    )


def _check_records(records: list[Any]) -> BundleVerdict:
    first = records[0]
    if not isinstance(first, dict) or not isinstance(first.get("seq"), int) or first["seq"] < 1:
        return BundleVerdict(0, problem="the first record has no valid seq")
    expected, prev_hash = first["seq"], first.get("prev_hash")
    if expected == 1 and prev_hash != GENESIS:
        return BundleVerdict(0, bad_seq=1, problem="record 1 does not start from the genesis hash")
    if not _is_hash(prev_hash):
        return BundleVerdict(
            0, bad_seq=expected, problem=f"record {expected} has no valid prev_hash"
        )
    for count, record in enumerate(records):
        if not isinstance(record, dict) or set(record) != set(RECORD_MEMBERS):
            return BundleVerdict(
                count,
                first["seq"],
                bad_seq=expected,
                problem=f"record {expected} does not have exactly the members {RECORD_MEMBERS}",
            )
        verdict = BundleVerdict(count, first["seq"])
        seq = record["seq"]
        if seq != expected or isinstance(seq, bool):
            return _bad(
                verdict,
                record,
                f"record {expected} is missing or out of order (found {seq!r})",
                expected,
            )
        if record["prev_hash"] != prev_hash:
            return _bad(
                verdict,
                record,
                f"record {seq} does not follow record {seq - 1}: a record was inserted, "
                "deleted or moved before it",
            )
        if not _sound(record):
            return _bad(
                verdict, record, f"record {seq} was modified: its hash does not match its content"
            )
        prev_hash, expected = record["hash"], expected + 1
    return BundleVerdict(len(records), first["seq"])


def _sound(record: dict[str, Any]) -> bool:
    event = record["event"]
    texts = (record["flag"], record["sender"], record["provenance"])
    if not isinstance(event, dict) or not all(t is None or isinstance(t, str) for t in texts):
        return False
    if not _is_hash(record["hash"]) or not _is_hash(record["prev_hash"]):
        return False
    try:
        canonical = canonical_record(event, record["seq"], record["prev_hash"], *texts)
    except CanonicalizationError:
        return False
    return bool(hashlib.sha256(canonical).hexdigest() == record["hash"])


def _check_anchor(
    anchor: Any, by_seq: dict[int, dict[str, Any]], public: Ed25519PublicKey, key_id: str
) -> str | None:
    if not isinstance(anchor, dict) or not isinstance(anchor.get("seq"), int):
        return "an anchor has no seq"
    seq = anchor["seq"]
    record = by_seq.get(seq)
    if record is None:
        return f"the anchor of record {seq} is outside the bundle"
    if anchor.get("hash") != record["hash"]:
        return f"record {seq} differs from its signed anchor: the chain was rewritten up to it"
    if anchor.get("key_id") != key_id:
        return f"the anchor of record {seq} was signed by another key"
    value = _b64(anchor.get("signature"))
    if value is None or not check_signature(public, value, signed_head(seq, record["hash"])):
        return f"the signature of the anchor of record {seq} does not verify"
    return None


def _bad(
    verdict: BundleVerdict, record: Any, problem: str, seq: int | None = None
) -> BundleVerdict:
    event = record.get("event") if isinstance(record, dict) else None
    event_id = event.get("id") if isinstance(event, dict) else None
    return BundleVerdict(
        verdict.records,
        verdict.first_seq,
        bad_seq=seq
        if seq is not None
        else (record.get("seq") if isinstance(record, dict) else None),
        bad_event_id=event_id if isinstance(event_id, str) else None,
        problem=problem,
        anchors=verdict.anchors,
    )


def sign_bundle(bundle: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    """``bundle`` with its head and the signature of the head by ``key``."""
    last = bundle["records"][-1]
    head = {"seq": last["seq"], "hash": last["hash"]}
    value = key.sign(signed_head(head["seq"], head["hash"]))
    return {
        **bundle,
        "head": head,
        "signature": {
            "algorithm": "Ed25519",
            "key_id": key.key_id,
            "public_key": key.public_base64,
            "value": base64.b64encode(value).decode(),
        },
    }
