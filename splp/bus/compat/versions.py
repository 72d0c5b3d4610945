"""The compatibility of two versions of a service, operation by operation."""

from __future__ import annotations

from splp.bus.compat.comparison import compare_part
from splp.bus.descriptor import ServiceDescriptor


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
            found = compare_part(part, old_schema, new_schema)
            reasons.extend(f"operation {name}: {reason}" for reason in found)
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
