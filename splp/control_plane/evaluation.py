"""The evaluation report's directory facts, read from the directory's store.

The audit package's :func:`~splp.audit.evaluation.evaluation` aggregates the calls; this
:class:`~splp.audit.evaluation.DirectoryFacts` adds the services, the grants in force, the access
procedure's statistics, the service levels the descriptors promise and the misuse hits
of the period with their follow-ups (:mod:`splp.directory_service.evaluation_facts`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from splp.audit.evaluation import Period
from splp.directory_service.evaluation_facts import (
    grants_in_force,
    procedure_statistics,
    published_services,
    service_levels,
    supervision_findings,
)
from splp.directory_service.store import Store


class StoreFacts:
    """Requesters are named by broker user (``<user_prefix><party>``), as the adapters'
    events name them."""

    def __init__(self, store: Store, user_prefix: str = "") -> None:
        self.store = store
        self.user_prefix = user_prefix

    async def __call__(self, period: Period, now: datetime) -> dict[str, Any]:
        start, end = period.start_utc, period.end_utc
        following = period.next()
        async with self.store.sessions() as session:
            services = await published_services(session, end)
            grants = await grants_in_force(session, start, end, self.user_prefix)
            procedure = await procedure_statistics(session, start, end, following.end_utc, now)
            levels = await service_levels(session, end)
            findings = await supervision_findings(session, start, end, self.user_prefix)
        return {
            "services": services,
            "grants": grants,
            "procedure": {**procedure, "next_period": following.name},
            "requester_prefix": self.user_prefix,
            "service_levels": levels,
            "supervision": findings,
        }
