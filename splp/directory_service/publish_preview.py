"""The compatibility report of a descriptor before it is published (a dry run).

``POST /services/preview`` runs every check of a publish (:func:`~.catalog.plan_publish`)
and answers what publishing would do, with nothing stored and no audit event:

* ``outcome``: ``new-service``, ``new-major`` (a new major version of a known service),
  ``compatible`` (a new minor or patch version that breaks no caller) or ``breaking``;
* ``breaking_changes``: why the new version would break the callers of ``current_version``
  (a breaking version is refused by the publish: it must be a new major version);
* ``changes``: what differs from ``current_version`` (operations added, schemas changed,
  title, description or classification changed); which of them break callers is what
  ``breaking_changes`` says;
* ``warnings``: the master-data warnings the publish would give (Pasal 51(2));
* ``descriptor_sha256``: the sha256 of the descriptor as it would be stored (canonical
  JSON), which ``POST /services?expect_sha256=...`` checks, so that what is confirmed is
  what was previewed.

>>> canonical_sha256({"b": 1, "a": [2]}) == canonical_sha256({"a": [2], "b": 1})
True
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from splp.directory_service.catalog import PublishPlan


def canonical_sha256(document: dict[str, Any]) -> str:
    """The sha256 of ``document`` as compact JSON with sorted keys."""
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _outcome(plan: PublishPlan) -> str:
    if plan.service is None:
        return "new-service"
    if not plan.existing:
        return "new-major"
    return "breaking" if plan.breaking_changes else "compatible"


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """The differences between two descriptors (as stored), each ``{"change": kind, ...}``
    (whether one breaks callers is the compatibility check's to say)."""
    found: list[dict[str, Any]] = []
    for field in ("title", "description"):
        if old.get(field) != new.get(field):
            found.append({"change": f"{field}-changed"})
    if old.get("classification") != new.get("classification"):
        found.append(
            {
                "change": "classification-changed",
                "from": old.get("classification"),
                "to": new.get("classification"),
            }
        )
    before, after = old.get("operations") or {}, new.get("operations") or {}
    for name in sorted(after):
        if name not in before:
            found.append({"change": "operation-added", "operation": name})
            continue
        for part in ("request", "response"):
            if (before[name] or {}).get(part) != (after[name] or {}).get(part):
                found.append({"change": f"{part}-schema-changed", "operation": name})
        if (before[name] or {}).get("description") != (after[name] or {}).get("description"):
            found.append({"change": "operation-description-changed", "operation": name})
    return found


def preview(plan: PublishPlan, warnings: list[str]) -> dict[str, Any]:
    """The report of ``plan`` (see the module docstring)."""
    previous = plan.previous
    return {
        "ref": str(plan.descriptor.ref),
        "version": plan.descriptor.version,
        "current_version": previous.version if previous is not None else None,
        "outcome": _outcome(plan),
        "publishable": not plan.breaking_changes,
        "breaking_changes": plan.breaking_changes,
        "changes": changes(previous.descriptor, plan.document) if previous is not None else [],
        "warnings": warnings,
        "descriptor_sha256": canonical_sha256(plan.document),
    }
