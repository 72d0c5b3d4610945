"""Availability per service and period, from the health probe's transitions in the audit
trail (``admin.service-up`` and ``admin.service-down``, :mod:`splp.control_plane.health_probe`).

A service is up from an ``up`` event until the next ``down`` event, and the other way
round. Time before the first transition known at the start of the period is not
observed, and not counted either way: availability = up time / observed time.

>>> timeline([("up", 0.0), ("down", 90.0)], start=0.0, end=100.0)
(90.0, 100.0, 1)
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select

from splp.audit.records import AuditRecord, counted
from splp.audit.store import AuditStore

UP = "admin.service-up"
DOWN = "admin.service-down"


def timeline(
    transitions: list[tuple[str, float]], *, start: float, end: float
) -> tuple[float, float, int]:
    """``(up seconds, observed seconds, outages begun)`` within ``[start, end)`` of
    ``transitions`` (``("up" | "down", time)``, in time order, possibly before ``start``)."""
    up = observed = 0.0
    outages = 0
    state: str | None = None
    since = start
    for kind, at in transitions:
        if at >= end:
            break
        if at > start and state is not None:
            span = at - max(since, start)
            observed += span
            up += span if state == "up" else 0.0
        if kind == "down" and state != "down" and at >= start:
            outages += 1
        state, since = kind, max(at, start)
    if state is not None:
        span = end - since
        observed += span
        up += span if state == "up" else 0.0
    return up, observed, outages


async def availability(
    store: AuditStore, since: datetime, until: datetime
) -> dict[str, dict[str, Any]]:
    """Per service (``PUBLISHER.SERVICE.vMAJOR``): ``availability_percent`` (``None`` when
    the probe never saw it), ``observed_seconds``, ``down_seconds`` and ``outages``."""
    query = (
        select(
            AuditRecord.publisher,
            AuditRecord.service,
            AuditRecord.major,
            AuditRecord.kind,
            AuditRecord.at,
        )
        .where(AuditRecord.kind.in_((UP, DOWN)), AuditRecord.at < until, counted())
        .order_by(AuditRecord.at, AuditRecord.seq)
    )
    transitions: dict[str, list[tuple[str, float]]] = defaultdict(list)
    async with store.engine.connect() as connection:
        result = await connection.stream(query)
        async for publisher, service, major, kind, at in result:
            state = "up" if kind == UP else "down"
            transitions[f"{publisher}.{service}.v{major}"].append((state, at.timestamp()))
    report: dict[str, dict[str, Any]] = {}
    for ref, changes in sorted(transitions.items()):
        up, observed, outages = timeline(changes, start=since.timestamp(), end=until.timestamp())
        report[ref] = {
            "availability_percent": round(100 * up / observed, 3) if observed else None,
            "observed_seconds": round(observed, 3),
            "down_seconds": round(observed - up, 3),
            "outages": outages,
        }
    return report
