"""The audit reports' grant counts, read from the directory's access history."""

from __future__ import annotations

from datetime import date

from splp.audit.reports import GrantCounts
from splp.directory_service.grant_history import count_by_day, grant_periods
from splp.directory_service.store import Store


class StoreGrantCounter:
    """A :class:`~splp.audit.reports.GrantCounter` on the directory's store.

    Requesters are named by broker user (``<user_prefix><party>``), as the adapters'
    events name them.
    """

    def __init__(self, store: Store, user_prefix: str = "") -> None:
        self.store = store
        self.user_prefix = user_prefix

    async def __call__(self, first: date, last: date) -> GrantCounts:
        async with self.store.sessions() as session:
            periods = await grant_periods(session)
        return count_by_day(periods, first, last, self.user_prefix)
