"""What the directory contributes to the evaluation report (Bungo Pasal 9): the services,
the grants in force, and the statistics of the access procedure (Pasal 7).

The control plane (:mod:`splp.control_plane.evaluation`) hands these to the audit
package's report; the directory knows nothing of the audit trail.

The procedure's figures, for the period ``[start, end)``:

* ``received``: requests submitted in the period;
* ``approved``, ``rejected`` (the administrator's steps), ``granted``, ``declined`` (the
  publisher's): steps taken in the period;
* ``median_hours``: the median time to decide, from submission to the administrator's
  step, and from approval to the publisher's step, over the steps taken in the period;
* ``approved_not_granted``: requests still ``approved`` (neither granted nor declined)
  whose approval is more than 14 days old at the period's end, or now if sooner;
* ``expiring_next_period``: grants in force whose ``expires_at`` falls in the next period.

Besides: the service levels each publisher promised (:func:`service_levels`, from the
descriptors), and the misuse hits of the period with their follow-ups
(:func:`supervision_findings`, Pasal 8(5)b).
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from splp.directory_service.grant_history import grant_periods
from splp.directory_service.models import AccessEvent, AccessRequest, Party, Service, ServiceVersion
from splp.directory_service.supervision import hits_between

STALE_AFTER = timedelta(days=14)
ADMINISTRATOR_STEPS = ("approve", "reject")
PUBLISHER_STEPS = ("grant", "decline")


async def published_services(session: AsyncSession, end: datetime) -> list[str]:
    """``PUBLISHER.SERVICE.vMAJOR`` of every version published before ``end``."""
    rows = await session.execute(
        select(Party.name, Service.name, ServiceVersion.major)
        .join(Service, Service.publisher_id == Party.id)
        .join(ServiceVersion, ServiceVersion.service_id == Service.id)
        .where(ServiceVersion.published_at < end)
        .distinct()
    )
    return sorted(f"{owner}.{name}.v{major}" for owner, name, major in rows)


SERVICE_LEVEL_FIELDS = (
    "availability_target",
    "p95_target_ms",
    "contact_name",
    "contact_email",
    "contact_phone",
    "operating_hours",
)


async def service_levels(session: AsyncSession, end: datetime) -> dict[str, dict[str, Any]]:
    """``{PUBLISHER.SERVICE.vMAJOR: service level}`` of each major's latest version
    published before ``end`` that has one (``availability_target`` in percent,
    ``p95_target_ms``, the contact and the operating hours, each only when set)."""
    rows = await session.execute(
        select(Party.name, Service.name, ServiceVersion.major, ServiceVersion.descriptor)
        .join(Service, Service.publisher_id == Party.id)
        .join(ServiceVersion, ServiceVersion.service_id == Service.id)
        .where(ServiceVersion.published_at < end)
        .order_by(ServiceVersion.minor, ServiceVersion.patch)
    )
    levels: dict[str, dict[str, Any]] = {}
    for owner, name, major, descriptor in rows:
        promised = (descriptor or {}).get("service_level") or {}
        ref = f"{owner}.{name}.v{major}"
        levels.pop(ref, None)  # a later version without one withdraws the promise
        shown = {k: promised[k] for k in SERVICE_LEVEL_FIELDS if promised.get(k) is not None}
        if shown:
            levels[ref] = shown
    return dict(sorted(levels.items()))


async def supervision_findings(
    session: AsyncSession, start: datetime, end: datetime, user_prefix: str = ""
) -> list[dict[str, Any]]:
    """The misuse hits whose window ended in ``[start, end)``, with their follow-ups, as
    plain data (times in ISO 8601, the requester as a party; a note's author is named by
    party, the person's address is left out of a filed report)."""

    def iso(moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat(timespec="seconds")

    findings = []
    for hit in await hits_between(session, start, end):
        requester = str(hit["requester"])
        if user_prefix and requester.startswith(user_prefix):
            requester = requester[len(user_prefix) :]
        findings.append(
            {
                "id": hit["id"],
                "rule": hit["rule"],
                "requester": requester,
                "service": hit["service"],
                "operation": hit["operation"],
                "since": iso(hit["since"]),
                "until": iso(hit["until"]),
                "figures": dict(hit["figures"] or {}),
                "suspended": list(hit["suspended"] or []),
                "follow_ups": [
                    {"id": n["id"], "text": n["text"], "author": n["author"], "at": iso(n["at"])}
                    for n in hit.get("follow_ups", [])
                ],
            }
        )
    return findings


async def grants_in_force(
    session: AsyncSession, start: datetime, end: datetime, user_prefix: str = ""
) -> list[dict[str, str]]:
    """Each (service, requester) holding a grant at some moment of ``[start, end)``."""
    pairs = {
        (p.service, user_prefix + p.requester)
        for p in await grant_periods(session)
        if p.start < end and (p.end is None or p.end > start)
    }
    return [{"service": s, "requester": r} for s, r in sorted(pairs)]


async def procedure_statistics(
    session: AsyncSession, start: datetime, end: datetime, next_end: datetime, now: datetime
) -> dict[str, Any]:
    """The access procedure's figures of ``[start, end)`` (see the module docstring)."""
    publisher = Party.__table__.alias("publisher")
    rows = (
        await session.execute(
            select(
                AccessEvent.request_id,
                AccessEvent.step,
                AccessEvent.at,
                AccessRequest.created_at,
                AccessRequest.state,
                AccessRequest.expires_at,
                AccessRequest.major,
                Party.name,
                Service.name,
                publisher.c.name,
            )
            .join(AccessRequest, AccessRequest.id == AccessEvent.request_id)
            .join(Party, Party.id == AccessRequest.requester_id)
            .join(Service, Service.id == AccessRequest.service_id)
            .join(publisher, publisher.c.id == Service.publisher_id)
            .order_by(AccessEvent.request_id, AccessEvent.id)
        )
    ).all()
    counts = dict.fromkeys(("received", "approved", "rejected", "granted", "declined"), 0)
    step_count = {"approve": "approved", "reject": "rejected", "grant": "granted"}
    step_count["decline"] = "declined"
    waits: dict[str, list[float]] = {"administrator": [], "publisher": []}
    approved_at: dict[int, datetime] = {}
    requests: dict[int, dict[str, Any]] = {}
    for request_id, step, at, created, state, expires, major, requester, name, owner in rows:
        requests[request_id] = {
            "id": request_id,
            "requester": requester,
            "service": f"{owner}.{name}.v{major}",
            "state": state,
            "expires_at": expires,
        }
        if step == "approve":
            approved_at[request_id] = at
        if not start <= at < end:
            continue
        if step == "request":
            counts["received"] += 1
        elif step in step_count:
            counts[step_count[step]] += 1
        if step in ADMINISTRATOR_STEPS:
            waits["administrator"].append((at - created).total_seconds() / 3600)
        elif step in PUBLISHER_STEPS and request_id in approved_at:
            waits["publisher"].append((at - approved_at[request_id]).total_seconds() / 3600)
    cutoff = min(end, now) - STALE_AFTER
    stale = [
        {
            **_shown(requests[rid]),
            "approved_at": at.isoformat(timespec="seconds"),
            "days_waiting": (min(end, now) - at).days,
        }
        for rid, at in sorted(approved_at.items())
        if requests[rid]["state"] == "approved" and at <= cutoff
    ]
    expiring = [
        {**_shown(r), "expires_at": r["expires_at"].isoformat(timespec="seconds")}
        for r in requests.values()
        if r["state"] == "granted"
        and r["expires_at"] is not None
        and end <= r["expires_at"] < next_end
    ]
    return {
        **counts,
        "median_hours": {
            who: round(statistics.median(hours), 2) if hours else None
            for who, hours in waits.items()
        },
        "approved_not_granted": stale,
        "expiring_next_period": sorted(expiring, key=lambda r: (r["expires_at"], r["id"])),
    }


def _shown(request: dict[str, Any]) -> dict[str, Any]:
    return {k: request[k] for k in ("id", "requester", "service")}
