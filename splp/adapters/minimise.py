"""Field-level minimisation of a reply (UU 27/2022): keep only the fields a grant allows.

A grant may list the response fields its requester may receive. :func:`minimise` keeps
those members of a JSON object reply, or of each object of a list of objects, and names
the fields returned (names only, for the audit event). A grant that lists fields can be
applied to no other shape: a string, a number or a list that holds anything but objects
raises :class:`NotMinimisable`, and the adapter answers a 500 instead of passing the
reply on whole (it fails closed). Without a field list, every reply passes unchanged.

>>> minimise({"nik": "1", "name": "Siti", "village": "X"}, frozenset({"name", "village"}))
({'name': 'Siti', 'village': 'X'}, ['name', 'village'])
>>> minimise([{"nik": "1", "name": "A"}, {"name": "B"}], frozenset({"name"}))
([{'name': 'A'}, {'name': 'B'}], ['name'])
>>> minimise("1508010101900001", None)
('1508010101900001', None)
>>> minimise("1508010101900001", frozenset({"name"}))
Traceback (most recent call last):
...
splp.adapters.minimise.NotMinimisable: a str reply cannot be limited to the granted fields
>>> minimise([1, 2], frozenset({"name"}))
Traceback (most recent call last):
...
splp.adapters.minimise.NotMinimisable: a list of int reply cannot be limited to the granted fields
"""

from __future__ import annotations

from typing import Any


class NotMinimisable(Exception):
    """A reply of a shape that a grant's field list cannot be applied to."""


def minimise(result: Any, fields: frozenset[str] | None) -> tuple[Any, list[str] | None]:
    """``result`` with only the members in ``fields`` (``None``: every member), and the
    sorted names of the fields returned: those of an object reply, or, under a field
    list, those of the objects of a list reply; ``None`` for any other reply."""
    if isinstance(result, dict):
        kept = result if fields is None else _kept(result, fields)
        return kept, sorted(str(k) for k in kept)
    if fields is None:
        return result, None
    if isinstance(result, list) and all(isinstance(item, dict) for item in result):
        items = [_kept(item, fields) for item in result]
        return items, sorted({str(k) for item in items for k in item})
    raise NotMinimisable(f"a {_shape(result)} reply cannot be limited to the granted fields")


def _kept(item: dict[Any, Any], fields: frozenset[str]) -> dict[Any, Any]:
    return {k: v for k, v in item.items() if k in fields}


def _shape(result: Any) -> str:
    """The type of a reply, as a log line may name it (never its value)."""
    if isinstance(result, list):
        kinds = sorted({type(item).__name__ for item in result if not isinstance(item, dict)})
        return f"list of {', '.join(kinds)}"
    return type(result).__name__
