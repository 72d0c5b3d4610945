"""The supervision report (Bungo Pasal 8(6), at least twice a year): a checklist per OD.

For each party, over a period (``2026``, ``2026-S2``, ``2026-11``; days cut at WIB
midnight):

* ``approved_first`` - every grant given in the period went through the administrator's
  approval (an ``approve`` step before its ``grant`` step in the history);
* ``none_expired`` - no grant still in state ``granted`` is past its expiry;
* ``rotated`` - the party's API token and broker password were issued within the
  rotation policy (``SPLP_ROTATION_DAYS``); a broker password issued before the store
  recorded issue times (migration 0010) counts as *unknown*, not as rotated;
* ``no_drift`` - the broker holds exactly what the store wants for the party's broker
  user (the reconciler's plan names no change for it); *unknown* when the broker's
  management API cannot be read.

It also lists the misuse hits of the period (:mod:`.supervision`) with their follow-ups.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from splp.db import utcnow
from splp.directory_service.models import AccessEvent, AccessRequest, ApiToken, Party
from splp.directory_service.supervision import hits_between

WIB = timezone(timedelta(hours=7), "WIB")
PERIOD = re.compile(r"^(\d{4})(?:-(S[12]|\d{2}))?$")


@dataclass(frozen=True)
class Period:
    name: str
    since: datetime
    until: datetime

    @classmethod
    def parse(cls, text: str) -> Period:
        """``2026`` (a year), ``2026-S1``/``2026-S2`` (a semester) or ``2026-11`` (a month),
        cut at WIB midnight; :class:`ValueError` for anything else.

        >>> p = Period.parse("2026-S2")
        >>> p.since.isoformat(), p.until.isoformat()
        ('2026-06-30T17:00:00+00:00', '2026-12-31T17:00:00+00:00')
        """
        match = PERIOD.match(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a period: use 2026, 2026-S2 or 2026-11")
        year, part = int(match[1]), match[2]
        if not 2000 <= year <= 9000:
            raise ValueError(f"{text!r}: the year is out of range")
        if part is None:
            first, last = date(year, 1, 1), date(year + 1, 1, 1)
        elif part.startswith("S"):
            first = date(year, 1 if part == "S1" else 7, 1)
            last = date(year, 7, 1) if part == "S1" else date(year + 1, 1, 1)
        else:
            month = int(part)
            if not 1 <= month <= 12:
                raise ValueError(f"{text!r}: there is no month {month}")
            first = date(year, month, 1)
            last = date(year + month // 12, month % 12 + 1, 1)

        def cut(day: date) -> datetime:
            return datetime.combine(day, time(), WIB).astimezone(UTC)

        return cls(text.strip(), cut(first), cut(last))


def _check(ok: bool | None, **detail: Any) -> dict[str, Any]:
    return {"status": "unknown" if ok is None else ("ok" if ok else "finding"), **detail}


async def _grant_histories(
    session: AsyncSession, since: datetime, until: datetime
) -> dict[int, list[tuple[str, datetime]]]:
    """Request id -> its steps, for the requests granted in the period."""
    granted = select(AccessEvent.request_id).where(
        AccessEvent.step == "grant", AccessEvent.at >= since, AccessEvent.at < until
    )
    rows = await session.execute(
        select(AccessEvent.request_id, AccessEvent.step, AccessEvent.at)
        .where(AccessEvent.request_id.in_(granted))
        .order_by(AccessEvent.id)
    )
    steps: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    for request_id, step, at in rows.all():
        steps[request_id].append((step, at))
    return steps


def _approved_before_grant(steps: list[tuple[str, datetime]]) -> bool:
    approved = False
    for step, _at in steps:
        if step == "approve":
            approved = True
        elif step == "grant" and not approved:
            return False
    return True


async def supervision_report(
    session: AsyncSession,
    period: Period,
    *,
    rotation_days: int,
    user_prefix: str = "",
    drift: list[str] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The report as JSON-ready data; ``drift`` is the reconciler's pending change lines
    (``None``: the broker could not be read)."""
    now = now or utcnow()
    oldest = now - timedelta(days=rotation_days)
    parties = (await session.scalars(select(Party).order_by(Party.name))).all()
    histories = await _grant_histories(session, period.since, period.until)
    requests = {
        r.id: r
        for r in (
            await session.scalars(
                select(AccessRequest).where(
                    (AccessRequest.id.in_(list(histories))) | (AccessRequest.state == "granted")
                )
            )
        ).all()
    }
    tokens: dict[int, datetime] = {}
    for party_id, created in (
        await session.execute(
            select(ApiToken.party_id, ApiToken.created_at).where(ApiToken.revoked_at.is_(None))
        )
    ).all():
        tokens[party_id] = max(created, tokens.get(party_id, created))
    ods = []
    for party in parties:
        mine = [r for r in requests.values() if r.requester_id == party.id]
        unapproved = sorted(
            r.id for r in mine if not _approved_before_grant(histories.get(r.id, []))
        )
        expired = sorted(
            r.id
            for r in mine
            if r.state == "granted" and r.expires_at is not None and r.expires_at <= now
        )
        token_at = tokens.get(party.id)
        password_at = party.broker_password_set_at
        stale = [
            name
            for name, at in (("api_token", token_at), ("broker_password", password_at))
            if at is not None and at < oldest
        ]
        unknown = password_at is None and party.broker_password_hash is not None
        user = user_prefix + party.name
        mine_drift = (
            None
            if drift is None
            else [c for c in drift if re.search(rf"(?<![\w.-]){re.escape(user)}(?![\w.-])", c)]
        )
        ods.append(
            {
                "party": party.name,
                "roles": party.roles,
                "checks": {
                    "approved_first": _check(
                        not unapproved,
                        grants_in_period=sum(1 for r in mine if r.id in histories),
                        without_approval=unapproved,
                    ),
                    "none_expired": _check(not expired, expired_grants=expired),
                    "rotated": _check(
                        None if unknown and not stale else not stale,
                        policy_days=rotation_days,
                        api_token_issued=token_at,
                        broker_password_issued=password_at,
                        overdue=stale,
                    ),
                    "no_drift": _check(
                        None if mine_drift is None else not mine_drift,
                        changes=mine_drift or [],
                    ),
                },
            }
        )
    return {
        "period": period.name,
        "from": period.since,
        "until": period.until,
        "generated_at": now,
        "broker_drift": (
            {"status": "unknown"} if drift is None else _check(not drift, changes=drift)
        ),
        "ods": ods,
        "misuse_hits": await hits_between(session, period.since, period.until),
    }
