"""How a breaking change is put into words."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from splp.bus.compat.constraints import Bound, lower


def child(path: str, name: str) -> str:
    """The path of field ``name`` below ``path``: ``address.district``."""
    return f"{path}.{name}" if path else name


def show_types(types: frozenset[str] | None) -> str:
    return "any" if types is None else "|".join(sorted(types))


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def change(what: str, old: Any, new: Any) -> str:
    """``what`` added, removed or changed from ``old`` to ``new`` (None: absent).

    >>> change("maxLength", None, 16), change("maxLength", 16, 20)
    ('maxLength 16 added', 'maxLength changed from 16 to 20')
    """
    if old is None:
        return f"{what} {dump(new) if not isinstance(new, str) else new} added"
    if new is None:
        return f"{what} {dump(old) if not isinstance(old, str) else old} removed"
    return f"{what} changed from {dump(old)} to {dump(new)}"


def show_bound(
    schema: dict[str, Any], bound: Callable[[dict[str, Any]], Bound | None]
) -> str | None:
    """A schema's lower or upper bound as ``>= 1`` or ``< 10``; None when it has none."""
    found = bound(schema)
    if found is None:
        return None
    sign = (">" if bound is lower else "<") + ("" if found[1] else "=")
    return f"{sign} {dump(found[0])}"
