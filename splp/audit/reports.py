"""Evaluation reports (Bungo Pasal 9(3)b) and the abuse report (Pasal 8(5)b).

Usage per UTC day, per service and per requester, from the adapters' events:

* ``calls``: every request an adapter saw (``response``, ``denied``, ``throttled``,
  ``dropped``);
* ``errors``: ``response`` events with a status of 400 or more, and ``dropped``;
  ``error_rate`` = errors / calls;
* ``p50_ms``, ``p95_ms``: latency of the answered requests (nearest rank);
* ``denied``, ``throttled``: refused attempts (403, 429), not counted as errors;
* ``active_grants``: grants in force at any moment of that day, for the service or held
  by the requester, as a :class:`GrantCounter` that the caller passes in (the control
  plane counts them from the directory's access history; the audit package never reads
  the directory).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import select

from splp.audit.records import AuditRecord
from splp.audit.store import AuditStore

ADAPTER_KINDS = ("response", "denied", "throttled", "dropped")

GrantCounts = dict[tuple[str, str, str], int]
"""``(DAY, "service" | "requester", NAME)`` to the number of grants in force that day."""


class GrantCounter(Protocol):
    """Counts the grants in force on each day from ``first`` to ``last`` (both included)."""

    async def __call__(self, first: date, last: date) -> GrantCounts: ...


@dataclass
class Tally:
    calls: int = 0
    errors: int = 0
    denied: int = 0
    throttled: int = 0
    latencies: list[float] = field(default_factory=list)

    def add(self, kind: str, status: int | None, duration_ms: float | None) -> None:
        self.calls += 1
        if kind == "denied":
            self.denied += 1
        elif kind == "throttled":
            self.throttled += 1
        elif kind == "dropped" or (status is not None and status >= 400):
            self.errors += 1
        if kind != "dropped" and duration_ms is not None:
            self.latencies.append(duration_ms)

    def row(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "calls": self.calls,
            "errors": self.errors,
            "error_rate": round(self.errors / self.calls, 4) if self.calls else 0.0,
            "p50_ms": percentile(ordered, 50),
            "p95_ms": percentile(ordered, 95),
            "denied": self.denied,
            "throttled": self.throttled,
        }


def percentile(ordered: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([1.0, 2.0, 3.0, 4.0], 95)
    (2.0, 4.0)
    """
    if not ordered:
        return None
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def usage(
    store: AuditStore,
    since: datetime,
    until: datetime,
    grants: GrantCounts | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Rows ``by_service`` and ``by_requester``, each per day.

    ``grants`` maps ``(DAY, "service", "PUBLISHER.SERVICE.vMAJOR")`` and
    ``(DAY, "requester", NAME)`` to the number of grants in force that day.
    """
    by_service: dict[tuple[str, str], Tally] = defaultdict(Tally)
    by_requester: dict[tuple[str, str], Tally] = defaultdict(Tally)
    query = (
        select(
            AuditRecord.at,
            AuditRecord.kind,
            AuditRecord.publisher,
            AuditRecord.service,
            AuditRecord.major,
            AuditRecord.requester,
            AuditRecord.status,
            AuditRecord.duration_ms,
        )
        .where(AuditRecord.at >= since, AuditRecord.at < until)
        .where(AuditRecord.kind.in_(ADAPTER_KINDS))
        .where(AuditRecord.provenance.is_(None))
    )
    async with store.engine.connect() as connection:
        result = await connection.stream(query)
        async for at, kind, publisher, service, major, requester, status, duration in result:
            day = at.date().isoformat()
            ref = f"{publisher}.{service}.v{major}"
            by_service[day, ref].add(kind, status, duration)
            by_requester[day, requester or "-"].add(kind, status, duration)
    grants = grants or {}
    return {
        "by_service": [
            {
                "day": day,
                "service": ref,
                **tally.row(),
                "active_grants": grants.get((day, "service", ref), 0),
            }
            for (day, ref), tally in sorted(by_service.items())
        ],
        "by_requester": [
            {
                "day": day,
                "requester": name,
                **tally.row(),
                "active_grants": grants.get((day, "requester", name), 0),
            }
            for (day, name), tally in sorted(by_requester.items())
        ],
    }


def abuse(report: dict[str, list[dict[str, Any]]], top: int = 10) -> list[dict[str, Any]]:
    """The requesters with the most denied or throttled calls in a usage report."""
    totals: dict[str, dict[str, int]] = defaultdict(
        lambda: {"denied": 0, "throttled": 0, "calls": 0}
    )
    for row in report["by_requester"]:
        for key in ("denied", "throttled", "calls"):
            totals[row["requester"]][key] += row[key]
    ranked: list[dict[str, Any]] = [
        {"requester": name, **t, "refused": t["denied"] + t["throttled"]}
        for name, t in totals.items()
        if t["denied"] + t["throttled"]
    ]
    ranked.sort(key=lambda r: (-int(r["refused"]), str(r["requester"])))
    return ranked[:top]
