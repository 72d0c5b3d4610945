"""Local ``$ref``: ``#``, ``#/json/pointer`` and ``#anchor``, resolved in their own document."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from splp.bus.compat.keywords import ANNOTATIONS


def deref(schema: Any, root: Any) -> Any:
    """Follow a local ``$ref`` that stands alone (with annotations only) to its target."""
    for _ in range(64):
        if not isinstance(schema, dict) or "$ref" not in schema:
            return schema
        if set(schema) - ANNOTATIONS - {"$ref"}:
            return schema
        target = lookup(root, schema["$ref"])
        if target is None:
            return schema
        schema = target
    return schema


def lookup(root: Any, ref: Any) -> Any:
    """The target of a local ``$ref`` (``#``, ``#/json/pointer``, ``#anchor``), else None.

    >>> lookup({"$defs": {"nik": {"type": "string"}}}, "#/$defs/nik")
    {'type': 'string'}
    >>> lookup({"$defs": {"nik": {"$anchor": "nik"}}}, "#nik")
    {'$anchor': 'nik'}
    >>> lookup({}, "other.json#/x") is None
    True
    """
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    fragment = unquote(ref[1:])
    if fragment and not fragment.startswith("/"):
        return _anchor(root, fragment)
    node = root
    for token in fragment.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def _anchor(node: Any, name: str) -> Any:
    if isinstance(node, dict):
        if node.get("$anchor") == name:
            return node
        children: Any = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        if (found := _anchor(child, name)) is not None:
            return found
    return None
