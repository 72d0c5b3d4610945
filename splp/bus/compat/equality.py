"""When two schemas, or two JSON values, are the same."""

from __future__ import annotations

import json
from typing import Any

from splp.bus.compat.keywords import ANNOTATIONS, SCHEMA_LISTS, SCHEMA_MAPS, SCHEMA_VALUED
from splp.bus.compat.refs import deref, lookup


def same_schema(
    old: Any, new: Any, old_root: Any, new_root: Any, seen: set[tuple[int, int]] | None = None
) -> bool:
    """Structural equality of two schemas, following local ``$ref``, ignoring annotations.

    ``old`` is read in the document ``old_root``, ``new`` in ``new_root``.

    >>> same_schema({"type": "string", "title": "NIK"}, {"type": "string"}, {}, {})
    True
    """
    seen = set() if seen is None else seen
    old, new = deref(old, old_root), deref(new, new_root)
    if not isinstance(old, dict) or not isinstance(new, dict):
        return json_key(old) == json_key(new)
    if (id(old), id(new)) in seen:
        return True
    seen.add((id(old), id(new)))
    keys = (set(old) | set(new)) - ANNOTATIONS
    if any(key not in old or key not in new for key in keys):
        return False

    def same(a: Any, b: Any) -> bool:
        return same_schema(a, b, old_root, new_root, seen)

    for key in keys:
        a, b = old[key], new[key]
        if key == "$ref":
            a, b = lookup(old_root, a), lookup(new_root, b)
            if a is None or b is None:
                a, b = old[key], new[key]
        if key in SCHEMA_VALUED or key == "$ref":
            equal = same(a, b)
        elif key in SCHEMA_LISTS:
            equal = len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        elif key in SCHEMA_MAPS:
            equal = a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        else:
            equal = json_key(a) == json_key(b)
        if not equal:
            return False
    return True


def json_key(value: Any) -> str:
    """Canonical JSON, where 1 and 1.0 are the same number, as in JSON Schema.

    >>> json_key({"b": 1.0, "a": [True]})
    '{"a":[true],"b":1}'
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{json.dumps(k)}:{json_key(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(json_key(v) for v in value) + "]"
    return json.dumps(value)
