"""What the HTTP gateway reads from the directory: the applications' credential hashes and
every grant in force, each in a few bulk queries (the gateway polls them every few seconds
with ``If-None-Match``, so they must stay cheap as the number of grants grows).

Only parties holding the requester role appear: the reconciler keeps gateway broker users
for them alone, so a grant of any other party could not be used anyway.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from splp.db import utcnow
from splp.directory_service.models import AccessRequest, Party, Service, ServiceVersion, Theme


async def grants_in_force(session: AsyncSession) -> list[dict[str, Any]]:
    """Every grant in force (state granted, not expired) of a requester party."""
    requester, publisher = aliased(Party), aliased(Party)
    rows = await session.execute(
        select(AccessRequest, requester.name, requester.roles, publisher.name, Service.name)
        .join(requester, requester.id == AccessRequest.requester_id)
        .join(Service, Service.id == AccessRequest.service_id)
        .join(publisher, publisher.id == Service.publisher_id)
        .where(AccessRequest.state == "granted")
        .order_by(AccessRequest.id)
    )
    themes = await _themes(session)
    now = utcnow()
    grants = []
    for grant, party, roles, publisher_name, service in rows.all():
        if "requester" not in roles:
            continue
        if grant.expires_at is not None and grant.expires_at <= now:
            continue
        theme = themes.get((grant.service_id, grant.major))
        if theme is None:
            continue
        grants.append(
            {
                "request_id": grant.id,
                "requester": party,
                "service": f"{publisher_name}.{service}.v{grant.major}",
                "theme": theme,
                "operations": grant.operations,
                "quota_per_minute": grant.quota_per_minute,
                "expires_at": grant.expires_at,
                "fields": grant.fields,
            }
        )
    return grants


async def _themes(session: AsyncSession) -> dict[tuple[int, int], str]:
    """(service id, major) -> the theme of its newest version (as the catalog tells it)."""
    rows = await session.execute(
        select(ServiceVersion.service_id, ServiceVersion.major, Theme.name)
        .join(Theme, Theme.id == ServiceVersion.theme_id)
        .order_by(ServiceVersion.minor, ServiceVersion.patch)
    )
    return {(service_id, major): theme for service_id, major, theme in rows.all()}
