"""OpenAPI 3.0 from the 3.1 document, for API portals that import only 3.0 (WSO2 API
Manager, which the national SPLP very likely runs, reads 3.0 best).

OpenAPI 3.0's Schema Object is a subset of JSON Schema draft 4 with its own words; the
descriptors' schemas are draft 2020-12. :func:`downgrade_schema` rewrites the 2020-12
words that 3.0 spells differently and drops those it has no word for (their meaning is
still enforced by the adapter, which validates against the original schema):

>>> downgrade_schema({"type": ["string", "null"], "const": "a", "$schema": "x"})
{'type': 'string', 'nullable': True, 'enum': ['a']}
>>> downgrade_schema({"type": "integer", "exclusiveMinimum": 0})
{'type': 'integer', 'minimum': 0, 'exclusiveMinimum': True}
"""

from __future__ import annotations

from typing import Any

OPENAPI_30 = "3.0.3"
DROPPED = frozenset(
    {
        "$schema",
        "$id",
        "$anchor",
        "$comment",
        "$defs",
        "examples",
        "contentMediaType",
        "contentEncoding",
        "prefixItems",
        "unevaluatedProperties",
        "unevaluatedItems",
        "dependentRequired",
        "dependentSchemas",
        "propertyNames",
        "if",
        "then",
        "else",
        "contains",
        "minContains",
        "maxContains",
        "patternProperties",
    }
)
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def downgrade_schema(schema: Any) -> Any:
    """A JSON Schema 2020-12 as an OpenAPI 3.0 Schema Object."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in DROPPED or key.startswith("x-splp-internal"):
            continue
        if key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            if len(types) == 1:
                out["type"] = types[0]
            elif types:
                out["anyOf"] = [{"type": t} for t in types]
            if "null" in value:
                out["nullable"] = True
        elif key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key in ("properties",) and isinstance(value, dict):
            out[key] = {name: downgrade_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = downgrade_schema(value)
        elif key in SCHEMA_LISTS and isinstance(value, list):
            out[key] = [downgrade_schema(sub) for sub in value]
        else:
            out[key] = value
    return out


def hoist_definitions(schemas: dict[str, Any]) -> dict[str, Any]:
    """Component schemas with their ``$defs`` moved out to components of their own
    (``NAME.DEF``), since a 3.0 Schema Object has no ``$defs``; references follow.

    >>> hoist_definitions({"a": {"$defs": {"n": {"type": "string"}},
    ...                          "items": {"$ref": "#/components/schemas/a/$defs/n"}}})
    {'a': {'items': {'$ref': '#/components/schemas/a.n'}}, 'a.n': {'type': 'string'}}
    """
    moved: dict[str, str] = {}
    pending = dict(schemas)
    out: dict[str, Any] = {}
    while pending:
        name, schema = pending.popitem()
        if isinstance(schema, dict) and isinstance(schema.get("$defs"), dict):
            schema = dict(schema)
            for key, definition in schema.pop("$defs").items():
                pending[f"{name}.{key}"] = definition
                moved[f"#/components/schemas/{name}/$defs/{key}"] = (
                    f"#/components/schemas/{name}.{key}"
                )
        out[name] = schema
    return {name: _retarget(out[name], moved) for name in sorted(out)}


def _retarget(value: Any, moved: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: _moved_ref(v, moved) if k == "$ref" and isinstance(v, str) else _retarget(v, moved)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_retarget(v, moved) for v in value]
    return value


def _moved_ref(ref: str, moved: dict[str, str]) -> str:
    for old in sorted(moved, key=len, reverse=True):
        if ref == old or ref.startswith(old + "/"):
            return moved[old] + ref[len(old) :]
    return ref


def downgrade(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of :func:`~splp.directory_service.export.openapi_for` as
    OpenAPI 3.0.3."""
    components = dict(document["components"])
    components["schemas"] = {
        name: downgrade_schema(schema)
        for name, schema in hoist_definitions(components["schemas"]).items()
    }
    info = dict(document["info"])
    return {**document, "openapi": OPENAPI_30, "info": info, "components": components}
