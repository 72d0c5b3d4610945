"""A JSON Schema as rows a person can read: field, type, required, description, example.

>>> rows({"type": "object", "required": ["nik"], "properties": {
...     "nik": {"type": "string", "pattern": "^[0-9]{16}$", "description": "NIK"},
...     "alamat": {"type": "object", "properties": {"desa": {"type": "string"}}}}})
... # doctest: +NORMALIZE_WHITESPACE
[Row(field='nik', type='string', required=True, description='NIK', example='', rule='^[0-9]{16}$'),
 Row(field='alamat', type='object', required=False, description='', example='', rule=''),
 Row(field='alamat.desa', type='string', required=False, description='', example='', rule='')]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_ROWS = 200
MAX_DEPTH = 6


@dataclass(frozen=True, slots=True)
class Row:
    field: str
    type: str
    required: bool
    description: str
    example: str
    rule: str


def rows(schema: Any, prefix: str = "", depth: int = 0) -> list[Row]:
    """The properties of an object schema (nested objects and arrays of objects flattened)."""
    found: list[Row] = []
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return found
    required = set(schema.get("required", []))
    for name, sub in (schema.get("properties") or {}).items():
        if len(found) >= MAX_ROWS or not isinstance(sub, dict):
            break
        field = f"{prefix}{name}"
        found.append(
            Row(
                field=field,
                type=_type(sub),
                required=name in required,
                description=str(sub.get("description", "")),
                example=_example(sub),
                rule=_rule(sub),
            )
        )
        items = sub.get("items")
        nested = items if isinstance(items, dict) and _type(sub).startswith("array") else sub
        found += rows(nested, f"{field}{'[]' if nested is not sub else ''}.", depth + 1)
    return found[:MAX_ROWS]


def _type(schema: dict[str, Any]) -> str:
    kind = schema.get("type", "")
    if isinstance(kind, list):
        kind = " | ".join(str(k) for k in kind)
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"array of {_type(schema['items']) or 'any'}"
    if schema.get("format"):
        return f"{kind} ({schema['format']})"
    if "enum" in schema:
        return f"{kind or 'enum'}: " + ", ".join(json.dumps(v) for v in schema["enum"][:10])
    return str(kind)


def _example(schema: dict[str, Any]) -> str:
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return json.dumps(examples[0], ensure_ascii=False)
    if "example" in schema:
        return json.dumps(schema["example"], ensure_ascii=False)
    return ""


def _rule(schema: dict[str, Any]) -> str:
    parts = []
    for key in ("pattern", "minLength", "maxLength", "minimum", "maximum"):
        if key in schema:
            value = schema[key]
            parts.append(str(value) if key == "pattern" else f"{key} {value}")
    return "; ".join(parts)
