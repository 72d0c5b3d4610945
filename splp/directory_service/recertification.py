"""Re-certification of the grants that end soon (UU 27/2022; issue 18: "grants that expire
within 30 days are listed, and their holders and publishers are notified").

:func:`notify_expiring` tells the holder and the publisher of each grant in force that ends
within ``SPLP_RECERTIFY_DAYS``: one ``access.recertify`` audit event per grant, naming
both, and an e-mail to their people when ``SPLP_SMTP_URL`` is set. The control plane runs
it every ``SPLP_RECERTIFY_INTERVAL`` seconds; ``POST /access-grants/expiring/notify``
(``splp access expiring --notify``) runs it at once.

Each grant is announced once per expiry date: the expiry announced is kept in
``access_requests.recertify_notified_for``, claimed by a conditional update so that two
replicas (or the timer and an administrator) never announce the same expiry twice. A
grant extended to a new expiry is announced again when that one comes near.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from splp.directory_service.access import expiring_query, expiring_view
from splp.directory_service.events import DirectoryEvents
from splp.directory_service.models import AccessRequest
from splp.directory_service.notify import Notifier
from splp.directory_service.notify import Step as NotifiedStep


async def notify_expiring(
    session: AsyncSession,
    events: DirectoryEvents,
    notifier: Notifier,
    *,
    actor: str,
    within_days: int,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Announce the grants that end within ``within_days`` days and were not yet announced
    for their current expiry; commits ``session`` and returns the grants announced now
    (soonest first). The e-mails go out after the commit, in the background."""
    candidates = (await session.scalars(expiring_query(within_days, now))).all()
    announced = []
    for request in candidates:
        if request.recertify_notified_for == request.expires_at or not await _claim(
            session, request
        ):
            continue
        grant = await expiring_view(session, request)
        publisher, service, major = str(grant["service"]).split(".")
        events.emit(
            session,
            "access.recertify",
            actor=actor,
            theme=grant["theme"],
            publisher=publisher,
            service=service,
            major=int(major[1:]),
            requester=grant["requester"],
            request_id=grant["request_id"],
            expires_at=grant["expires_at"].isoformat(),
            notify=[grant["requester"], publisher],
        )
        announced.append(grant)
    await session.commit()
    for grant in announced:  # and by e-mail, to the holder's and the publisher's people
        notifier.recertify(
            NotifiedStep(
                "recertify",
                int(grant["request_id"]),
                str(grant["service"]),
                str(grant["requester"]),
                str(grant["publisher"]),
            ),
            grant["expires_at"].isoformat(),
        )
    return announced


async def _claim(session: AsyncSession, request: AccessRequest) -> bool:
    """Record that ``request``'s current expiry is announced, unless someone else did
    first or the grant changed meanwhile (a conditional update, checked by its row count:
    SQLite ignores ``FOR UPDATE``)."""
    claimed = await session.execute(
        update(AccessRequest)
        .where(
            AccessRequest.id == request.id,
            AccessRequest.state == "granted",
            AccessRequest.expires_at == request.expires_at,
            AccessRequest.recertify_notified_for.is_distinct_from(request.expires_at),
        )
        .values(recertify_notified_for=request.expires_at)
        .execution_options(synchronize_session=False)
    )
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]
