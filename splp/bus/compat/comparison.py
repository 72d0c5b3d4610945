"""Does the wide schema accept every instance of the narrow one?

For a request the new schema is the wide one, for a response the old one (see
:mod:`splp.bus.compat`). Each difference found is kept as a reason, worded for the
publisher.

The work is bounded: each ``anyOf`` tries every narrow alternative against every wide
one, so nested ``anyOf`` multiply (four alternatives nested five deep took 46 s). A check
that would take more than :data:`MAX_STEPS` comparisons stops and says it cannot verify,
so a published descriptor cannot hold the directory's CPU.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

from splp.bus.compat.constraints import (
    bound_covers,
    branches,
    covers,
    divides,
    enum,
    lower,
    types,
    upper,
)
from splp.bus.compat.equality import same_schema
from splp.bus.compat.keywords import LOWER_BOUNDS, OPAQUE, UPPER_BOUNDS
from splp.bus.compat.refs import deref
from splp.bus.compat.wording import change, child, dump, show_bound, show_types

MAX_STEPS = 5_000
"""Schema comparisons one operation's request or response check may make (well under a
second); the largest real descriptors need a few hundred."""


class TooComplex(Exception):
    """The check would take more than :data:`MAX_STEPS` comparisons."""


@dataclass
class Steps:
    """The comparisons made so far, shared by a check and all its trials."""

    left: int = MAX_STEPS

    def take(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise TooComplex


def compare_part(part: str, old: Any, new: Any) -> list[str]:
    """The reasons the ``part`` schema ``new`` would break the callers of ``old``."""
    check = Comparison(part, old, new)
    try:
        check.compare(old, new, "")
    except TooComplex:
        return [
            f"cannot verify compatibility of {check.label('')}: the schemas are too complex "
            f"to compare (more than {MAX_STEPS} comparisons, nested anyOf)"
        ]
    return check.reasons


@dataclass
class Comparison:
    """The comparison of the ``part`` (request or response) schemas of one operation."""

    part: str
    old_root: Any
    new_root: Any
    reasons: list[str] = field(default_factory=list)
    seen: set[tuple[int, int]] = field(default_factory=set)
    steps: Steps = field(default_factory=Steps)

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

    def same(self, old: Any, new: Any) -> bool:
        return same_schema(old, new, self.old_root, self.new_root)

    def compare(self, old: Any, new: Any, path: str) -> None:
        """Report how ``new`` differs from ``old`` at ``path``, recursively.

        Raises :class:`TooComplex` past :data:`MAX_STEPS` comparisons.
        """
        self.steps.take()
        old, new = deref(old, self.old_root), deref(new, self.new_root)
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
        wide_types, narrow_types = types(wide), types(narrow)
        if wide_types is not None and not covers(wide_types, narrow_types):
            self.report(
                path, f"type {word} from {show_types(types(old))} to {show_types(types(new))}"
            )
        wide_enum, narrow_enum = enum(wide), enum(narrow)
        if wide_enum is not None:
            if narrow_enum is None:
                self.report(path, f"enum {dump(new.get('enum', new.get('const')))} added")
            elif missing := [v for k, v in narrow_enum.items() if k not in wide_enum]:
                what = "no longer accepted" if self.request else "may now be returned"
                self.report(path, f"enum {word}: {dump(missing)} {what}")
        for kw, looser in [(k, operator.le) for k in LOWER_BOUNDS] + [
            (k, operator.ge) for k in UPPER_BOUNDS
        ]:
            if kw in wide and (kw not in narrow or not looser(wide[kw], narrow[kw])):
                self.report(path, change(kw, old.get(kw), new.get(kw)))
        for name, bound in (("lower", lower), ("upper", upper)):
            w, n = bound(wide), bound(narrow)
            if w is not None and (n is None or not bound_covers(w, n, name == "lower")):
                self.report(
                    path, change(f"{name} bound", show_bound(old, bound), show_bound(new, bound))
                )
        if "multipleOf" in wide and (
            "multipleOf" not in narrow or not divides(wide["multipleOf"], narrow["multipleOf"])
        ):
            self.report(path, change("multipleOf", old.get("multipleOf"), new.get("multipleOf")))
        if wide.get("uniqueItems") is True and narrow.get("uniqueItems") is not True:
            self.report(path, change("uniqueItems", old.get("uniqueItems"), new.get("uniqueItems")))
        for kw in ("pattern", "format"):
            if kw in wide and wide[kw] != narrow.get(kw):
                if kw in narrow:
                    self.unverifiable(path, change(kw, old.get(kw), new.get(kw)))
                else:
                    self.report(path, change(kw, old.get(kw), new.get(kw)))
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
            sub = child(path, name)
            if name in new_props:
                self.compare(old_sub, new_props[name], sub)
            elif not self.request:
                self.report(sub, "removed")
            elif new_extra is not None:
                self.compare(old_sub, new_extra, sub)
        if self.request:
            for name, new_sub in new_props.items():
                if name not in old_props and isinstance(old_extra, dict):
                    self.compare(old_extra, new_sub, child(path, name))
            if new_extra is False and old_extra is not False:
                self.report(path, "no longer accepts additional fields (additionalProperties)")
            elif isinstance(new_extra, dict) and old_extra is not False:
                self.compare(True if old_extra is None else old_extra, new_extra, child(path, "*"))
        elif isinstance(old_extra, dict) and new_extra is not False:
            self.compare(old_extra, True if new_extra is None else new_extra, child(path, "*"))
        wide, narrow = (new, old) if self.request else (old, new)
        for name in sorted(set(wide.get("required", [])) - set(narrow.get("required", []))):
            sub = child(path, name)
            if self.request:
                self.report(sub, "is now required")
            elif name not in old_props or name in new_props:
                self.report(sub, "is no longer always present (it was required)")

    def any_of(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        old_branches, new_branches = branches(old), branches(new)
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
        probe = Comparison(
            self.part, self.old_root, self.new_root, seen=set(self.seen), steps=self.steps
        )
        probe.compare(*((narrow, wide) if self.request else (wide, narrow)), "")
        return probe.reasons
