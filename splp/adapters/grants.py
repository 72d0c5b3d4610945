"""The adapter's own check of callers (DESIGN section 4, the second enforcement layer).

The broker already refuses a requester without a topic permission, but a publisher can
reach any queue through the default exchange. So the adapter admits a request only when
its broker-validated ``user_id`` holds a grant in force for the operation, and only at
the grant's quota: a token bucket per requester refills ``quota_per_minute`` tokens a
minute, up to that many at once; with ``SPLP_QUOTA_URL`` the bucket is shared by every
replica of the service (:mod:`splp.adapters.quota`).

A call through the HTTP gateway carries the ``user_id`` ``<prefix><party>@gateway``
(:mod:`splp.bus.gateway_identity`); it is the party's call, checked against the party's
grants and counted in the party's bucket, the same as its calls over AMQP.

Grants come from the directory (``GET /services/{ref}/grants``), refreshed every
``Settings.grants_refresh`` seconds through :class:`~splp.bus.directory_cache.DirectoryCache`,
so they survive a directory outage. Until a first copy is had, nobody is admitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from splp.adapters.quota import LocalQuota, Quota
from splp.bus.directory_cache import DirectoryCache
from splp.bus.gateway_identity import requester_of
from splp.bus.names import ServiceRef
from splp.bus.subject import SubjectKey
from splp.bus.wire import Problem
from splp.errors import SplpError, TooManyRequests
from splp.log import get_logger
from splp.retry import keep_running

log = get_logger("adapter.grants")


@dataclass(frozen=True, slots=True)
class Grant:
    requester: str
    operations: frozenset[str] | None  # None: every operation
    quota_per_minute: int | None
    expires_at: float | None  # epoch seconds
    fields: frozenset[str] | None = None  # None: every response field

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Grant:
        expires = data.get("expires_at")
        operations = data.get("operations")
        fields = data.get("fields")
        return cls(
            requester=str(data["requester"]),
            operations=frozenset(operations) if operations is not None else None,
            quota_per_minute=data.get("quota_per_minute"),
            expires_at=datetime.fromisoformat(expires).timestamp() if expires else None,
            fields=frozenset(fields) if fields is not None else None,
        )

    def covers(self, operation: str, now: float) -> bool:
        in_force = self.expires_at is None or now < self.expires_at
        return in_force and (self.operations is None or operation in self.operations)


class GrantBook:
    """The grants of one service version, by requester."""

    def __init__(self, grants: Iterable[Grant] = ()) -> None:
        self._by_requester: dict[str, list[Grant]] = {}
        for grant in grants:
            self._by_requester.setdefault(grant.requester, []).append(grant)

    def find(self, requester: str, operation: str, now: float | None = None) -> Grant | None:
        now = time.time() if now is None else now
        for grant in self._by_requester.get(requester, ()):
            if grant.covers(operation, now):
                return grant
        return None


class DirectoryGrants:
    """The grants of ``service``, kept fresh from the directory in the background."""

    def __init__(
        self,
        cache: DirectoryCache,
        service: ServiceRef,
        refresh: float,
        *,
        subject_key: bool = False,
    ) -> None:
        self.cache = cache
        self.service = service
        self.refresh = refresh
        self.book = GrantBook()
        self.loaded = False
        self.wants_subject_key = subject_key
        self.subject_key: SubjectKey | None = None
        """The newest subject HMAC key (:mod:`splp.bus.subject`), kept in memory only."""
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._load()
        if self._task is None:
            self._task = asyncio.create_task(
                keep_running(
                    self._run,
                    what=f"grants refresh of {self.service}",
                    kind="grants refresh",
                    initial=min(self.refresh, 1.0),
                    maximum=max(self.refresh, 1.0),
                    logger=log,
                ),
                name=f"splp-grants:{self.service}",
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.cache.aclose()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.refresh)
            await self._load()

    async def _load(self) -> None:
        try:
            grants = await self.cache.get(f"/services/{self.service}/grants")
            self.book = GrantBook(Grant.from_json(g) for g in grants)
            self.loaded = True
        except (SplpError, KeyError, TypeError, ValueError) as exc:
            level = log.warning if self.loaded else log.error
            level(
                "grants of %s not refreshed (%s); %s",
                self.service,
                exc,
                "keeping the last ones" if self.loaded else "admitting nobody",
            )
        if self.wants_subject_key:
            await self._load_subject_key()

    async def _load_subject_key(self) -> None:
        try:
            self.subject_key = SubjectKey.from_json(await self.cache.fetch("/subject-key"))
        except (SplpError, KeyError, TypeError, ValueError) as exc:
            log.warning(
                "subject key of %s not refreshed (%s); %s",
                self.service,
                type(exc).__name__,
                "keeping the last one"
                if self.subject_key
                else "audit events carry no subject until it is had",
            )


class Throttled(Problem):
    """The requester's quota is used up: 429 with ``retry_after``, a ``throttled`` event."""


class GrantCheck:
    """Admits a request by its grant, or raises the problem to answer with; then
    :meth:`take_quota` takes a token of the grant's quota (:mod:`splp.adapters.quota`).

    The broker user of a party is ``<user_prefix><party>``, its gateway user
    ``<user_prefix><party>@gateway``; a ``user_id`` without the prefix belongs to no party
    and is refused.
    """

    def __init__(
        self, grants: DirectoryGrants, user_prefix: str = "", quota: Quota | None = None
    ) -> None:
        self.grants = grants
        self.user_prefix = user_prefix
        self.quota = quota if quota is not None else LocalQuota()

    def grant_for(self, user_id: str, operation: str) -> tuple[str, Grant | None]:
        """The party behind ``user_id`` and its grant in force for ``operation``, if any."""
        own_user, _via = requester_of(user_id)
        requester = own_user[len(self.user_prefix) :]
        if not own_user.startswith(self.user_prefix):
            return requester, None
        return requester, self.grants.book.find(requester, operation)

    def check(self, user_id: str, operation: str) -> frozenset[str] | None:
        """The response fields the caller's grant allows (``None``: all), or raise 403."""
        _requester, grant = self.grant_for(user_id, operation)
        if grant is None:
            own_user, via = requester_of(user_id)
            through = f" (through the {via})" if via else ""
            raise Problem.forbidden(
                f"{own_user}{through} holds no grant in force for {self.grants.service} {operation}"
            )
        return grant.fields

    def fields(self, user_id: str, operation: str) -> frozenset[str] | None:
        """The response fields the caller's grant allows (``None``: all, or no grant)."""
        _requester, grant = self.grant_for(user_id, operation)
        return grant.fields if grant is not None else None

    async def take_quota(self, user_id: str, operation: str) -> Throttled | None:
        """The 429 to answer with when the caller's quota is used up, else ``None``."""
        _requester, grant = self.grant_for(user_id, operation)
        if grant is None or grant.quota_per_minute is None:
            return None
        # the party's own broker user: its gateway calls count in the same bucket
        own_user, _via = requester_of(user_id)
        wait = await self.quota.take(own_user, grant.quota_per_minute)
        if wait <= 0:
            return None
        return Throttled.of(
            TooManyRequests,
            f"the quota of {grant.quota_per_minute} requests a minute is used up",
            retry_after=math.ceil(wait),
        )
