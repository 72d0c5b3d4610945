"""When each grant was in force, from the access requests' step history (Pasal 9(3)b).

A grant is in force from the step that made its request ``granted`` (``grant``,
``resume``) until the step that took it out of that state (``suspend``, ``revoke``), or
until its ``expires_at``. The evaluation report counts, per day, the grants in force at
any moment of that day.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from splp.directory_service.models import AccessEvent, AccessRequest, Party, Service

GrantCounts = dict[tuple[str, str, str], int]
"""``(day, "service" | "requester", name)`` to the number of grants in force that day."""


@dataclass(frozen=True, slots=True)
class GrantPeriod:
    """One stretch of time during which ``requester`` held a grant on ``service``."""

    service: str
    requester: str
    start: datetime
    end: datetime | None  # None: still in force (up to expiry)

    def in_force_on(self, day: date) -> bool:
        day_start = datetime.combine(day, time.min, tzinfo=self.start.tzinfo)
        day_end = day_start + timedelta(days=1)
        return self.start < day_end and (self.end is None or self.end > day_start)


async def grant_periods(session: AsyncSession) -> list[GrantPeriod]:
    """Every period in which a grant was in force, oldest request first."""
    publisher = Party.__table__.alias("publisher")
    rows = await session.execute(
        select(
            AccessEvent.request_id,
            AccessEvent.at,
            AccessEvent.from_state,
            AccessEvent.to_state,
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
    periods: list[GrantPeriod] = []
    opened: dict[int, GrantPeriod] = {}
    for request_id, at, from_state, to_state, expires, major, requester, name, owner in rows:
        if to_state == "granted" and request_id not in opened:
            ref = f"{owner}.{name}.v{major}"
            opened[request_id] = GrantPeriod(ref, requester, at, expires)
        elif from_state == "granted" and to_state != "granted" and request_id in opened:
            period = opened.pop(request_id)
            end = at if period.end is None else min(at, period.end)
            periods.append(GrantPeriod(period.service, period.requester, period.start, end))
    periods.extend(opened.values())
    return periods


def count_by_day(
    periods: list[GrantPeriod], first: date, last: date, user_prefix: str = ""
) -> GrantCounts:
    """Grants in force on each day from ``first`` to ``last`` (inclusive).

    Requesters are named as the adapters' events name them, by broker user
    (``<user_prefix><party>``), so that the counts meet the calls in the usage report.

    >>> from datetime import UTC
    >>> p = GrantPeriod("a.b.v1", "r", datetime(2026, 1, 2, 9, tzinfo=UTC),
    ...                 datetime(2026, 1, 3, 9, tzinfo=UTC))
    >>> sorted(count_by_day([p], date(2026, 1, 1), date(2026, 1, 4)).items())
    [(('2026-01-02', 'requester', 'r'), 1), (('2026-01-02', 'service', 'a.b.v1'), 1), \
(('2026-01-03', 'requester', 'r'), 1), (('2026-01-03', 'service', 'a.b.v1'), 1)]
    """
    counts: Counter[tuple[str, str, str]] = Counter()
    day = first
    while day <= last:
        label = day.isoformat()
        for period in periods:
            if period.in_force_on(day):
                counts[label, "service", period.service] += 1
                counts[label, "requester", user_prefix + period.requester] += 1
        day += timedelta(days=1)
    return dict(counts)
