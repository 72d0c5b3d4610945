"""Would a new minor or patch version of a service break the callers of the old one?

The request schema may only widen (every request an old caller sends is still accepted);
the response schema may only narrow (every reply is still what old callers were promised).
Both are the same structural check, "the wide schema covers the narrow one", with two
tolerances every API relies on: a request may declare new optional fields, and a response
may carry new fields. A response field that disappears is reported even when the new
schema could not produce it, because callers read it.

What the check cannot decide (a changed ``oneOf``, ``allOf``, ``not``, ``if``, pattern,
external ``$ref``...) is reported as ``cannot verify compatibility of ...``, never passed
silently; local ``$ref`` (``#/...`` and ``#anchor``) are followed.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any
from urllib.parse import unquote

from splp.bus.descriptor import ServiceDescriptor

# fmt: off
ANNOTATIONS = frozenset({
    "title", "description", "examples", "default", "deprecated", "readOnly", "writeOnly",
    "$comment", "$schema", "$id", "$anchor", "$dynamicAnchor", "$vocabulary", "$defs",
    "definitions", "contentMediaType", "contentEncoding", "contentSchema",
})
OPAQUE = (
    "allOf", "oneOf", "not", "if", "then", "else", "dependentSchemas", "dependentRequired",
    "patternProperties", "propertyNames", "unevaluatedProperties", "unevaluatedItems",
    "prefixItems", "contains", "minContains", "maxContains", "$dynamicRef", "$recursiveRef",
)
SCHEMA_VALUED = frozenset({
    "items", "additionalProperties", "not", "if", "then", "else", "contains",
    "propertyNames", "unevaluatedProperties", "unevaluatedItems", "contentSchema",
})
# fmt: on
SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas"})
ALL_TYPES = frozenset({"null", "boolean", "object", "array", "number", "string", "integer"})
LOWER_BOUNDS = ("minLength", "minItems", "minProperties")
UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties")


def breaking_changes(old: ServiceDescriptor, new: ServiceDescriptor) -> list[str]:
    """Why ``new`` would break the callers of ``old``; an empty list means compatible.

    >>> from splp.bus.descriptor import parse_descriptor
    >>> doc = {"publisher": "dukcapil", "service": "penduduk", "version": "1.0.0",
    ...        "theme": "kependudukan", "title": "Population register", "operations": {
    ...            "get": {"request": {"type": "object"}, "response": {"type": "object"}}}}
    >>> old = parse_descriptor(doc)
    >>> strict = {"type": "object", "required": ["nik"]}
    >>> new = parse_descriptor({**doc, "version": "1.1.0", "operations": {
    ...     "get": {"request": strict, "response": {"type": "object"}}}})
    >>> breaking_changes(old, new)
    ['operation get: request field nik is now required']
    """
    reasons: list[str] = []
    if new.theme != old.theme:
        reasons.append(
            f"theme changed from {old.theme} to {new.theme}: callers publish to the "
            f"exchange of {old.theme}"
        )
    for name, old_op in old.operations.items():
        new_op = new.operations.get(name)
        if new_op is None:
            reasons.append(f"operation {name} removed")
            continue
        for part, old_schema, new_schema in (
            ("request", old_op.request, new_op.request),
            ("response", old_op.response, new_op.response),
        ):
            check = _Comparison(part, old_schema, new_schema)
            check.compare(old_schema, new_schema, "")
            reasons.extend(f"operation {name}: {reason}" for reason in check.reasons)
    return reasons


def check_version_bump(old: ServiceDescriptor, new: ServiceDescriptor) -> list[str]:
    """Why ``new`` may not be published after ``old``; an empty list means it may.

    ``new`` must have a greater version. A new major version may change anything; a new
    minor or patch version must not break the callers of ``old``. ``old`` and ``new`` must
    be versions of the same service (``ValueError`` otherwise: a bug in the caller).

    >>> from splp.bus.descriptor import parse_descriptor
    >>> doc = {"publisher": "dukcapil", "service": "penduduk", "version": "1.2.0",
    ...        "theme": "kependudukan", "title": "Population register", "operations": {
    ...            "get": {"request": {"type": "object"}, "response": {"type": "object"}}}}
    >>> check_version_bump(parse_descriptor(doc), parse_descriptor({**doc, "version": "1.1.9"}))
    ['version 1.1.9 is not greater than 1.2.0']
    """
    if (old.publisher, old.service) != (new.publisher, new.service):
        raise ValueError(
            f"{new.publisher}.{new.service} is not a version of {old.publisher}.{old.service}"
        )
    if version_key(new.version) <= version_key(old.version):
        return [f"version {new.version} is not greater than {old.version}"]
    if new.major != old.major:
        return []
    return breaking_changes(old, new)


def version_key(version: str) -> tuple[int, ...]:
    """A sort key for ``MAJOR.MINOR.PATCH``: ``version_key("1.10.0") > version_key("1.9.0")``."""
    return tuple(int(part) for part in version.split("."))


@dataclass
class _Comparison:
    """Does the wide schema accept every instance of the narrow one (see module docstring)?"""

    part: str
    old_root: Any
    new_root: Any
    reasons: list[str] = field(default_factory=list)
    seen: set[tuple[int, int]] = field(default_factory=set)

    @property
    def request(self) -> bool:
        return self.part == "request"

    def report(self, path: str, message: str) -> None:
        self.reasons.append(f"{self.label(path)} {message}")

    def unverifiable(self, path: str, message: str) -> None:
        self.reasons.append(f"cannot verify compatibility of {self.label(path)}: {message}")

    def label(self, path: str) -> str:
        if not path or path.startswith("["):
            return f"{self.part} body{path}"
        return f"{self.part} field {path}"

    def compare(self, old: Any, new: Any, path: str) -> None:
        old, new = _deref(old, self.old_root), _deref(new, self.new_root)
        wide, narrow = (new, old) if self.request else (old, new)
        if narrow is False or wide is True or wide == {}:
            return
        if wide is False:
            self.report(path, "no longer accepted" if self.request else "is no longer absent")
            return
        if not isinstance(old, dict) or not isinstance(new, dict):
            old, new = ({} if s is True else s for s in (old, new))
            if not isinstance(old, dict) or not isinstance(new, dict):
                return
        key = (id(old), id(new))
        if key in self.seen:  # a recursive schema: this pair is being compared further up
            return
        self.seen.add(key)
        try:
            if "$ref" in old or "$ref" in new:
                if not self.same(old, new):
                    self.unverifiable(path, "a $ref that cannot be followed changed")
            elif "anyOf" in old or "anyOf" in new:
                self.any_of(old, new, path)
            else:
                self.keywords(old, new, path)
        finally:
            self.seen.discard(key)

    def keywords(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        wide, narrow = (new, old) if self.request else (old, new)
        word = "narrowed" if self.request else "widened"
        wide_types, narrow_types = _types(wide), _types(narrow)
        if wide_types is not None and not _covers(wide_types, narrow_types):
            self.report(path, f"type {word} from {_show(_types(old))} to {_show(_types(new))}")
        wide_enum, narrow_enum = _enum(wide), _enum(narrow)
        if wide_enum is not None:
            if narrow_enum is None:
                self.report(path, f"enum {_dump(new.get('enum', new.get('const')))} added")
            elif missing := [v for k, v in narrow_enum.items() if k not in wide_enum]:
                what = "no longer accepted" if self.request else "may now be returned"
                self.report(path, f"enum {word}: {_dump(missing)} {what}")
        for kw, looser in [(k, operator.le) for k in LOWER_BOUNDS] + [
            (k, operator.ge) for k in UPPER_BOUNDS
        ]:
            if kw in wide and (kw not in narrow or not looser(wide[kw], narrow[kw])):
                self.report(path, _change(kw, old.get(kw), new.get(kw)))
        for name, bound in (("lower", _lower), ("upper", _upper)):
            w, n = bound(wide), bound(narrow)
            if w is not None and (n is None or not _bound_covers(w, n, name == "lower")):
                self.report(path, _change(f"{name} bound", _bound(old, bound), _bound(new, bound)))
        if "multipleOf" in wide and (
            "multipleOf" not in narrow or not _divides(wide["multipleOf"], narrow["multipleOf"])
        ):
            self.report(path, _change("multipleOf", old.get("multipleOf"), new.get("multipleOf")))
        if wide.get("uniqueItems") is True and narrow.get("uniqueItems") is not True:
            self.report(
                path, _change("uniqueItems", old.get("uniqueItems"), new.get("uniqueItems"))
            )
        for kw in ("pattern", "format"):
            if kw in wide and wide[kw] != narrow.get(kw):
                if kw in narrow:
                    self.unverifiable(path, _change(kw, old.get(kw), new.get(kw)))
                else:
                    self.report(path, _change(kw, old.get(kw), new.get(kw)))
        self.properties(old, new, path)
        if "items" in old or "items" in new:
            self.compare(old.get("items", True), new.get("items", True), f"{path}[]")
        for kw in OPAQUE:
            if (kw in old or kw in new) and not self.same(old.get(kw), new.get(kw)):
                self.unverifiable(path, f"{kw} changed")

    def properties(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        old_props: dict[str, Any] = old.get("properties", {})
        new_props: dict[str, Any] = new.get("properties", {})
        old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
        for name, old_sub in old_props.items():
            sub = _child(path, name)
            if name in new_props:
                self.compare(old_sub, new_props[name], sub)
            elif not self.request:
                self.report(sub, "removed")
            elif new_extra is not None:
                self.compare(old_sub, new_extra, sub)
        if self.request:
            for name, new_sub in new_props.items():
                if name not in old_props and isinstance(old_extra, dict):
                    self.compare(old_extra, new_sub, _child(path, name))
            if new_extra is False and old_extra is not False:
                self.report(path, "no longer accepts additional fields (additionalProperties)")
            elif isinstance(new_extra, dict) and old_extra is not False:
                self.compare(True if old_extra is None else old_extra, new_extra, _child(path, "*"))
        elif isinstance(old_extra, dict) and new_extra is not False:
            self.compare(old_extra, True if new_extra is None else new_extra, _child(path, "*"))
        wide, narrow = (new, old) if self.request else (old, new)
        for name in sorted(set(wide.get("required", [])) - set(narrow.get("required", []))):
            sub = _child(path, name)
            if self.request:
                self.report(sub, "is now required")
            elif name not in old_props or name in new_props:
                self.report(sub, "is no longer always present (it was required)")

    def any_of(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        old_branches, new_branches = _branches(old), _branches(new)
        if old_branches is None or new_branches is None:
            if not self.same(old, new):
                self.unverifiable(path, "anyOf with sibling keywords changed")
            return
        wide, narrow = (
            (new_branches, old_branches) if self.request else (old_branches, new_branches)
        )
        for index, branch in enumerate(narrow):
            if any(not self.trial(branch, other) for other in wide):
                continue
            if len(wide) == 1:
                self.compare(*((branch, wide[0]) if self.request else (wide[0], branch)), path)
            elif self.request:
                self.report(path, f"old alternative {index + 1} is no longer accepted")
            else:
                self.report(path, f"new alternative {index + 1} was not a promised response")

    def trial(self, narrow: Any, wide: Any) -> list[str]:
        """The reasons a single comparison would give, without reporting them."""
        probe = _Comparison(self.part, self.old_root, self.new_root, seen=set(self.seen))
        probe.compare(*((narrow, wide) if self.request else (wide, narrow)), "")
        return probe.reasons

    def same(self, old: Any, new: Any, seen: set[tuple[int, int]] | None = None) -> bool:
        """Structural equality of two schemas, following local ``$ref``, ignoring annotations."""
        seen = set() if seen is None else seen
        old, new = _deref(old, self.old_root), _deref(new, self.new_root)
        if not isinstance(old, dict) or not isinstance(new, dict):
            return _json_key(old) == _json_key(new)
        if (id(old), id(new)) in seen:
            return True
        seen.add((id(old), id(new)))
        keys = (set(old) | set(new)) - ANNOTATIONS
        if any(key not in old or key not in new for key in keys):
            return False
        for key in keys:
            a, b = old[key], new[key]
            if key == "$ref":
                a, b = _lookup(self.old_root, a), _lookup(self.new_root, b)
                if a is None or b is None:
                    a, b = old[key], new[key]
            if key in SCHEMA_VALUED or key == "$ref":
                equal = self.same(a, b, seen)
            elif key in SCHEMA_LISTS:
                equal = len(a) == len(b) and all(
                    self.same(x, y, seen) for x, y in zip(a, b, strict=True)
                )
            elif key in SCHEMA_MAPS:
                equal = a.keys() == b.keys() and all(self.same(a[k], b[k], seen) for k in a)
            else:
                equal = _json_key(a) == _json_key(b)
            if not equal:
                return False
        return True


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _deref(schema: Any, root: Any) -> Any:
    """Follow a local ``$ref`` that stands alone (with annotations only) to its target."""
    for _ in range(64):
        if not isinstance(schema, dict) or "$ref" not in schema:
            return schema
        if set(schema) - ANNOTATIONS - {"$ref"}:
            return schema
        target = _lookup(root, schema["$ref"])
        if target is None:
            return schema
        schema = target
    return schema


def _lookup(root: Any, ref: Any) -> Any:
    """The target of a local ``$ref`` (``#``, ``#/json/pointer``, ``#anchor``), else None."""
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


def _branches(schema: dict[str, Any]) -> list[Any] | None:
    """The alternatives of a schema: its ``anyOf`` alone, itself, or None when mixed."""
    if "anyOf" not in schema:
        return [schema]
    return list(schema["anyOf"]) if set(schema) - ANNOTATIONS == {"anyOf"} else None


def _types(schema: dict[str, Any]) -> frozenset[str] | None:
    """The JSON types a schema allows; None for any."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(declared)
    values = _enum(schema)
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


def _covers(wide: frozenset[str], narrow: frozenset[str] | None) -> bool:
    if ALL_TYPES - {"integer"} <= wide:
        return True
    if narrow is None:
        return False
    return all(t in wide or (t == "integer" and "number" in wide) for t in narrow)


def _show(types: frozenset[str] | None) -> str:
    return "any" if types is None else "|".join(sorted(types))


def _enum(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The values a schema allows by ``enum``/``const``, keyed by canonical JSON."""
    if "const" in schema:
        return {_json_key(schema["const"]): schema["const"]}
    if isinstance(schema.get("enum"), list):
        return {_json_key(value): value for value in schema["enum"]}
    return None


def _json_key(value: Any) -> str:
    """Canonical JSON, where 1 and 1.0 are the same number, as in JSON Schema."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{json.dumps(k)}:{_json_key(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json_key(v) for v in value) + "]"
    return json.dumps(value)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _change(what: str, old: Any, new: Any) -> str:
    if old is None:
        return f"{what} {_dump(new) if not isinstance(new, str) else new} added"
    if new is None:
        return f"{what} {_dump(old) if not isinstance(old, str) else old} removed"
    return f"{what} changed from {_dump(old)} to {_dump(new)}"


Bound = tuple[float, bool]  # (value, exclusive)


def _lower(schema: dict[str, Any]) -> Bound | None:
    bounds = [(schema["minimum"], False)] if "minimum" in schema else []
    if "exclusiveMinimum" in schema:
        bounds.append((schema["exclusiveMinimum"], True))
    return max(bounds) if bounds else None


def _upper(schema: dict[str, Any]) -> Bound | None:
    bounds = [(schema["maximum"], False)] if "maximum" in schema else []
    if "exclusiveMaximum" in schema:
        bounds.append((schema["exclusiveMaximum"], True))
    return min(bounds, key=lambda b: (b[0], not b[1])) if bounds else None


def _bound_covers(wide: Bound, narrow: Bound, lower: bool) -> bool:
    if wide[0] != narrow[0]:
        return wide[0] < narrow[0] if lower else wide[0] > narrow[0]
    return not wide[1] or narrow[1]


def _bound(schema: dict[str, Any], bound: Callable[[dict[str, Any]], Bound | None]) -> str | None:
    found = bound(schema)
    if found is None:
        return None
    sign = (">" if bound is _lower else "<") + ("" if found[1] else "=")
    return f"{sign} {_dump(found[0])}"


def _divides(wide: Any, narrow: Any) -> bool:
    """Every multiple of ``narrow`` is a multiple of ``wide``."""
    ratio = Fraction(str(narrow)) / Fraction(str(wide))
    return ratio.denominator == 1
