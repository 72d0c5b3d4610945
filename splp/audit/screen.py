"""Screening: every event is stored, a bad one flagged and stripped of what it must not hold.

An event that follows ``schemas/audit-event.schema.json`` is stored as it came. One that
does not is stored too (losing it would hide exactly what an auditor wants to see), with
a ``flag`` naming the schema rules it broke (by location and rule, never by value). Its
members are kept only when they are known metadata members with a short scalar value;
any other member is replaced by ``"withheld: <type>, <n> bytes"``, because a member the
schema does not know may carry a payload or a secret into the trail. A message that is
not a JSON array of objects becomes one flagged event of kind ``invalid`` that records
its routing key, message id and size, never its body.

>>> screen({"id": "0" * 32, "kind": "response", "source": "x", "payload": "NIK 1"})[1]
'schema: /: Required; /: PropertyNames; /: UnevaluatedProperties; withheld: payload'
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from splp.audit.chain import MAX_SAFE_INTEGER, representable, sorted_json

Screened = tuple[dict[str, Any], str | None]
"""An event ready to store and its flag (``None`` when it is valid)."""

KNOWN = frozenset(
    {
        "id",
        "time",
        "kind",
        "source",
        "theme",
        "publisher",
        "service",
        "major",
        "requester",
        "via",
        "message_id",
        "correlation_id",
        "request_bytes",
        "operation",
        "status",
        "duration_ms",
        "response_bytes",
        "reason",
        "actor",
    }
)
MAX_KEPT = 255
MAX_RULES = 3


@cache
def _validator() -> Any:
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_schemas", here.parent / "schemas"):
        path = candidate / "audit-event.schema.json"
        if path.exists():
            return jsonschema_rs.validator_for(json.loads(path.read_text(encoding="utf-8")))
    raise RuntimeError("audit-event.schema.json is not installed")


def event_id_of(event: dict[str, Any]) -> str:
    """The event's ``id`` when it is a short string, else a digest of the whole event."""
    value = event.get("id")
    if isinstance(value, str) and 0 < len(value) <= 64:
        return value
    return "h" + hashlib.sha256(sorted_json(event)).hexdigest()[:63]


def screen(event: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """``(event to store, flag)``; the flag is ``None`` for a valid event."""
    validator = _validator()
    rules: list[str] = []
    if validator.is_valid(event):
        if representable(event):
            return event, None
        rules.append("/: not representable in RFC 8785 (JCS)")
    for error in validator.iter_errors(event):
        rule = f"{_path(error)}: {type(error.kind).__name__}"
        if rule not in rules:
            rules.append(rule)
    kept: dict[str, Any] = {}
    withheld = []
    for name, value in event.items():
        if name in KNOWN and _short_scalar(value):
            kept[name] = value
        else:
            withheld.append(name[:63])
            kept[name[:63]] = f"withheld: {type(value).__name__}, {len(sorted_json(value))} bytes"
    shown = rules[:MAX_RULES] + (["..."] if len(rules) > MAX_RULES else [])
    flag = "schema: " + "; ".join(shown)
    if withheld:
        flag += "; withheld: " + ", ".join(sorted(withheld))
    return kept, flag


def undecodable(
    routing_key: str, message_id: str | None, body: bytes
) -> tuple[dict[str, Any], str]:
    """The flagged stand-in for a message that is not a JSON array of event objects."""
    digest = hashlib.sha256(routing_key.encode() + b"\0" + body).hexdigest()
    event = {
        "id": digest[:32],
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "kind": "invalid",
        "source": "audit-sink",
        "routing_key": routing_key[:255],
        "message_id": (message_id or "")[:255] or None,
        "bytes": len(body),
    }
    return event, "undecodable message: not a JSON array of event objects (body withheld)"


def _short_scalar(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_KEPT
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) <= MAX_SAFE_INTEGER  # JCS holds no larger integer exactly
    return value is None or isinstance(value, bool)


def _path(error: Any) -> str:
    return "/" + "/".join(str(part) for part in error.instance_path)
