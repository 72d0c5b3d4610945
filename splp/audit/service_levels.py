"""The evaluation report's availability, service-level breaches and supervision findings
(Bungo Pasal 8(5)b and 9; issue 16 items 3 and 4).

* Availability per service comes from the health probe's up and down events
  (:func:`splp.audit.availability.availability`), measured up to the period's end or now,
  whichever is sooner. A service the probe never saw before that moment is *not
  measured* (``None``, "tidak diukur"), never 100 %.
* A breach is an availability below the descriptor's ``availability_target`` or a p95
  latency above its ``p95_target_ms``; a target is only checked against a measured figure.
* The supervision findings are the misuse hits of the period with their follow-ups, as
  the directory keeps them (handed in by the control plane).

>>> breaches(
...     [{"service": "a.b.v1", "p95_ms": 900.0}],
...     [{"service": "a.b.v1", "availability_percent": 97.5}],
...     {"a.b.v1": {"availability_target": 99.5, "p95_target_ms": 500}},
... )  # doctest: +NORMALIZE_WHITESPACE
[{'service': 'a.b.v1', 'measure': 'availability', 'target': 99.5, 'actual': 97.5},
 {'service': 'a.b.v1', 'measure': 'p95_ms', 'target': 500.0, 'actual': 900.0}]
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from splp.audit.availability import availability
from splp.audit.misuse import RULE_TITLES
from splp.audit.store import AuditStore

NOT_MEASURED = "tidak diukur"


async def availability_section(
    store: AuditStore,
    start: datetime,
    end: datetime,
    now: datetime,
    services: list[str],
    levels: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Availability of each service over ``[start, min(end, now))``."""
    until = min(end, now)
    measured = await availability(store, start, until) if until > start else {}
    rows = []
    for ref in sorted(set(services) | set(measured)):
        figures = measured.get(ref) or {}
        seen = bool(figures.get("observed_seconds"))
        rows.append(
            {
                "service": ref,
                "measured": seen,
                "availability_percent": figures.get("availability_percent") if seen else None,
                "observed_seconds": figures.get("observed_seconds", 0.0) if seen else 0.0,
                "down_seconds": figures.get("down_seconds", 0.0) if seen else 0.0,
                "outages": figures.get("outages", 0) if seen else 0,
                "availability_target": levels.get(ref, {}).get("availability_target"),
            }
        )
    any_measured = any(r["measured"] for r in rows)
    return {
        "measured": any_measured,
        "until": until.isoformat(timespec="microseconds"),
        "note": (
            "Ketersediaan diukur dari probe kesehatan direktori (peristiwa admin.service-up "
            "dan admin.service-down): waktu tersedia dibagi waktu yang teramati; waktu "
            "sebelum status pertama yang diketahui tidak dihitung."
            if any_measured
            else "Ketersediaan tidak diukur: tidak ada data probe kesehatan dalam periode ini."
        ),
        "services": rows,
    }


def breaches(
    by_service: list[dict[str, Any]],
    measured: list[dict[str, Any]],
    levels: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Each availability below its target and each p95 above its target."""
    percent = {r["service"]: r.get("availability_percent") for r in measured}
    p95 = {r["service"]: r.get("p95_ms") for r in by_service}
    found: list[dict[str, Any]] = []
    for ref in sorted(set(percent) | set(p95)):
        level = levels.get(ref, {})
        target, actual = level.get("availability_target"), percent.get(ref)
        if target is not None and actual is not None and actual < target:
            found.append(
                {
                    "service": ref,
                    "measure": "availability",
                    "target": float(target),
                    "actual": actual,
                }
            )
        target, actual = level.get("p95_target_ms"), p95.get(ref)
        if target is not None and actual is not None and actual > target:
            found.append(
                {"service": ref, "measure": "p95_ms", "target": float(target), "actual": actual}
            )
    return found


def supervision_section(findings: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """The hits with their rule's title; ``None`` when the directory gave none (an audit
    store read without the directory)."""
    if findings is None:
        return None
    shown = [{**f, "title": RULE_TITLES.get(f["rule"], f["rule"])} for f in findings]
    return {
        "findings": shown,
        "count": len(shown),
        "followed_up": sum(1 for f in shown if f.get("follow_ups")),
    }
