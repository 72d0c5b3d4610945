"""The regular expressions of broker permissions, built only from escaped names.

RabbitMQ matches a permission's regex (unanchored) against an exchange or queue name, and
a topic permission's regex against a routing key. Every pattern here is anchored and is
an alternation of :func:`re.escape`-d names, so no name can widen it, and
:func:`parse_alternation` reads our own patterns back into sets, which lets the
reconciler tell a narrowing (close the user's connections) from a widening.

>>> exact(["splp.theme.kependudukan"])
'^(?:splp\\\\.theme\\\\.kependudukan)$'
>>> parse_alternation(exact(["b", "a"])) == {re.escape("a"), re.escape("b")}
True
>>> exact([]), parse_alternation("^$"), parse_alternation(".*")
('^$', frozenset(), None)
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from splp.bus.names import ANY_SEGMENT, ServiceRef, check_segment

NOTHING = "^$"
ALL_OPERATIONS = ANY_SEGMENT
"""The operation segment of a grant of every operation: one name segment, never a dot."""

_ALTERNATION = re.compile(r"^\^\(\?:(?P<body>[^()]*)\)\$$")


def alternation(pieces: Iterable[str]) -> str:
    """``^(?:p1|p2|...)$`` of regex ``pieces`` (sorted, unique); ``^$`` when there are none."""
    unique = sorted(set(pieces))
    return "^(?:" + "|".join(unique) + ")$" if unique else NOTHING


def exact(names: Iterable[str]) -> str:
    """A pattern matching exactly ``names`` and nothing else."""
    return alternation(re.escape(name) for name in names)


def routing_key_pattern(ref: ServiceRef, operations: Iterable[str] | None) -> list[str]:
    """The regex pieces of a grant: one per operation, or one for every operation (``None``)."""
    prefix = re.escape(f"{ref}.")
    if operations is None:
        return [prefix + ALL_OPERATIONS]
    return [prefix + re.escape(check_segment(op, "operation")) for op in operations]


def parse_alternation(pattern: str) -> frozenset[str] | None:
    """The pieces of a pattern :func:`alternation` made; ``None`` for any other pattern."""
    if pattern == NOTHING:
        return frozenset()
    match = _ALTERNATION.match(pattern)
    if match is None:
        return None
    return frozenset(match.group("body").split("|"))


def narrows(old: str | None, new: str | None) -> bool:
    """Whether going from pattern ``old`` to ``new`` (``None``: absent) may take a right away.

    Absent means "nothing" for a vhost permission but "anything" for a topic permission;
    callers pass the pattern that absence stands for. Patterns we did not write count
    as narrowing, so the user's cached rights are dropped to be safe.
    """
    if old == new:
        return False
    before = parse_alternation(old) if old is not None else frozenset()
    after = parse_alternation(new) if new is not None else frozenset()
    if before is None or after is None:
        return True
    return not before <= after
