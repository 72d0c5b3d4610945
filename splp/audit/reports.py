"""Evaluation reports (Bungo Pasal 9(3)b) and the abuse report (Pasal 8(5)b).

Usage per UTC day, per service and per requester, from the adapters' events:

* ``calls``: every request an adapter saw (``response``, ``denied``, ``throttled``,
  ``dropped``);
* ``errors``: ``response`` events with a status of 400 or more, and ``dropped``;
  ``error_rate`` = errors / calls;
* ``p50_ms``, ``p95_ms``: latency of the answered and refused requests (nearest rank),
  computed by the database: no list of latencies is held in the process;
* ``denied``, ``throttled``: refused attempts (403, 429), not counted as errors;
* ``active_grants``: grants in force at any moment of that day, for the service or held
  by the requester, as a :class:`GrantCounter` that the caller passes in (the control
  plane counts them from the directory's access history; the audit package never reads
  the directory).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from splp.audit.records import COUNTED_SQL
from splp.audit.store import AuditStore

ADAPTER_KINDS = ("response", "denied", "throttled", "dropped")

GrantCounts = dict[tuple[str, str, str], int]
"""``(DAY, "service" | "requester", NAME)`` to the number of grants in force that day."""


class GrantCounter(Protocol):
    """Counts the grants in force on each day from ``first`` to ``last`` (both included)."""

    async def __call__(self, first: date, last: date) -> GrantCounts: ...


def percentile(ordered: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list (the rank computed as the SQL of
    :func:`usage` and :mod:`splp.audit.evaluation` compute it: ``ceil(p * n / 100)``).

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([1.0, 2.0, 3.0, 4.0], 95)
    (2.0, 4.0)
    """
    if not ordered:
        return None
    return ordered[max(0, math.ceil(p * len(ordered) / 100) - 1)]


def _utc_day(dialect: str) -> str:
    if dialect == "postgresql":
        return "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    return "date(at)"  # SQLite keeps the UTC time as text


GROUPINGS = {
    "service": (
        "COALESCE(publisher, 'None') || '.' || COALESCE(service, 'None') || '.v' "
        "|| COALESCE(CAST(major AS TEXT), 'None')"
    ),
    "requester": "COALESCE(NULLIF(requester, ''), '-')",
}
KINDS = f"kind IN ('response', 'denied', 'throttled', 'dropped') AND {COUNTED_SQL}"
"""Counted adapter events (:func:`splp.audit.records.counted`)."""


async def _rows(
    connection: AsyncConnection, by: str, bounds: dict[str, Any]
) -> list[dict[str, Any]]:
    """Counts and latency percentiles per UTC day and service (or requester), all in SQL:
    the per-call rows never reach Python (window ``ROW_NUMBER``, spilled by the database)."""
    day, name = _utc_day(connection.dialect.name), GROUPINGS[by]
    where = f"at >= :since AND at < :until AND {KINDS}"
    counts = text(
        f"SELECT {day} AS day, {name} AS name, count(*) AS calls, "
        "sum(CASE WHEN kind = 'denied' THEN 1 ELSE 0 END) AS denied, "
        "sum(CASE WHEN kind = 'throttled' THEN 1 ELSE 0 END) AS throttled, "
        "sum(CASE WHEN kind = 'dropped' OR (kind = 'response' AND status >= 400) "
        "THEN 1 ELSE 0 END) AS errors "
        f"FROM audit_records WHERE {where} GROUP BY 1, 2"
    )
    ranks = text(
        f"WITH r AS (SELECT {day} AS day, {name} AS name, duration_ms AS d "
        f"FROM audit_records WHERE {where} AND kind != 'dropped' AND duration_ms IS NOT NULL), "
        "ranked AS (SELECT day, name, d, "
        "ROW_NUMBER() OVER (PARTITION BY day, name ORDER BY d) AS rn, "
        "COUNT(*) OVER (PARTITION BY day, name) AS n FROM r) "
        "SELECT day, name, MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN d END) AS p50, "
        "MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN d END) AS p95 "
        "FROM ranked GROUP BY day, name"
    )
    latency = {
        (str(row.day), row.name): (row.p50, row.p95)
        for row in await connection.execute(ranks, bounds)
    }
    rows = []
    for row in await connection.execute(counts, bounds):
        calls, errors = int(row.calls), int(row.errors)
        p50, p95 = latency.get((str(row.day), row.name), (None, None))
        rows.append(
            {
                "day": str(row.day),
                by: row.name,
                "calls": calls,
                "errors": errors,
                "error_rate": round(errors / calls, 4) if calls else 0.0,
                "p50_ms": p50,
                "p95_ms": p95,
                "denied": int(row.denied),
                "throttled": int(row.throttled),
            }
        )
    rows.sort(key=lambda r: (r["day"], r[by]))
    return rows


def _bound(dialect: str, moment: datetime) -> Any:
    if dialect == "sqlite":  # the text SQLAlchemy's DateTime writes
        return (
            moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        )
    return moment


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
    grants = grants or {}
    async with store.engine.connect() as connection:
        dialect = connection.dialect.name
        bounds = {"since": _bound(dialect, since), "until": _bound(dialect, until)}
        report = {f"by_{by}": await _rows(connection, by, bounds) for by in GROUPINGS}
    for by in GROUPINGS:
        for row in report[f"by_{by}"]:
            row["active_grants"] = grants.get((row["day"], by, row[by]), 0)
    return report


async def requester_totals(
    store: AuditStore, requester: str, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """``requester``'s calls per service from ``since`` to ``until`` (excluded), summed in
    SQL: ``calls``, ``errors``, ``denied``, ``throttled`` (counted as :func:`usage` counts
    them), by service name ``PUBLISHER.SERVICE.vMAJOR``."""
    async with store.engine.connect() as connection:
        dialect = connection.dialect.name
        totals = text(
            f"SELECT {GROUPINGS['service']} AS service, count(*) AS calls, "
            "sum(CASE WHEN kind = 'denied' THEN 1 ELSE 0 END) AS denied, "
            "sum(CASE WHEN kind = 'throttled' THEN 1 ELSE 0 END) AS throttled, "
            "sum(CASE WHEN kind = 'dropped' OR (kind = 'response' AND status >= 400) "
            "THEN 1 ELSE 0 END) AS errors "
            f"FROM audit_records WHERE at >= :since AND at < :until AND {KINDS} "
            "AND requester = :requester GROUP BY 1 ORDER BY 1"
        )
        bounds = {
            "since": _bound(dialect, since),
            "until": _bound(dialect, until),
            "requester": requester,
        }
        rows = (await connection.execute(totals, bounds)).all()
    return [
        {
            "service": row.service,
            "calls": int(row.calls),
            "errors": int(row.errors),
            "denied": int(row.denied),
            "throttled": int(row.throttled),
        }
        for row in rows
    ]


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
