"""What one schema allows: its alternatives, types, values and numeric bounds."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from splp.bus.compat.equality import json_key
from splp.bus.compat.keywords import ALL_TYPES, ANNOTATIONS

Bound = tuple[float, bool]  # (value, exclusive)


def branches(schema: dict[str, Any]) -> list[Any] | None:
    """The alternatives of a schema: its ``anyOf`` alone, itself, or None when mixed."""
    if "anyOf" not in schema:
        return [schema]
    return list(schema["anyOf"]) if set(schema) - ANNOTATIONS == {"anyOf"} else None


def types(schema: dict[str, Any]) -> frozenset[str] | None:
    """The JSON types a schema allows; None for any.

    >>> sorted(types({"enum": [1, "a"]}))
    ['integer', 'string']
    """
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(declared)
    values = enum(schema)
    if values is not None:
        return frozenset(_type_of(value) for value in values.values())
    return None


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    names = {float: "number", str: "string", list: "array", dict: "object"}
    return names.get(type(value), "object")


def covers(wide: frozenset[str], narrow: frozenset[str] | None) -> bool:
    """Every type in ``narrow`` (None: any) is one of ``wide`` (an integer is a number)."""
    if ALL_TYPES - {"integer"} <= wide:
        return True
    if narrow is None:
        return False
    return all(t in wide or (t == "integer" and "number" in wide) for t in narrow)


def enum(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The values a schema allows by ``enum``/``const``, keyed by canonical JSON."""
    if "const" in schema:
        return {json_key(schema["const"]): schema["const"]}
    if isinstance(schema.get("enum"), list):
        return {json_key(value): value for value in schema["enum"]}
    return None


def lower(schema: dict[str, Any]) -> Bound | None:
    """The tightest of ``minimum`` and ``exclusiveMinimum``."""
    bounds = [(schema["minimum"], False)] if "minimum" in schema else []
    if "exclusiveMinimum" in schema:
        bounds.append((schema["exclusiveMinimum"], True))
    return max(bounds) if bounds else None


def upper(schema: dict[str, Any]) -> Bound | None:
    """The tightest of ``maximum`` and ``exclusiveMaximum``."""
    bounds = [(schema["maximum"], False)] if "maximum" in schema else []
    if "exclusiveMaximum" in schema:
        bounds.append((schema["exclusiveMaximum"], True))
    return min(bounds, key=lambda b: (b[0], not b[1])) if bounds else None


def bound_covers(wide: Bound, narrow: Bound, is_lower: bool) -> bool:
    """The ``wide`` bound lets through every number the ``narrow`` one does."""
    if wide[0] != narrow[0]:
        return wide[0] < narrow[0] if is_lower else wide[0] > narrow[0]
    return not wide[1] or narrow[1]


def divides(wide: Any, narrow: Any) -> bool:
    """Every multiple of ``narrow`` is a multiple of ``wide``.

    >>> divides(0.5, 1.5), divides(2, 3)
    (True, False)
    """
    ratio = Fraction(str(narrow)) / Fraction(str(wide))
    return ratio.denominator == 1
