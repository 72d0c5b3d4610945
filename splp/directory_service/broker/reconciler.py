"""The broker reconciler: makes RabbitMQ enforce the directory's parties and grants.

>>> reconciler = BrokerReconciler(store, settings)   # doctest: +SKIP
>>> drift = await reconciler.sync()                   # doctest: +SKIP
>>> print(drift.summary())                            # doctest: +SKIP

It reads the desired state from the store and the actual state from the management API
(a few bulk GETs), diffs them and applies only the changes, so a run with nothing to do
costs only the reads. It runs after every change in the directory
(:meth:`after_change`, which never fails the API call), on a timer in
``splp directory serve`` (:meth:`run_forever`), and by hand as ``splp broker sync``;
one at a time across all of them (:mod:`.lock`), so none applies a stale plan.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from urllib.parse import quote

from splp.bus.management import Management
from splp.db import utcnow
from splp.directory_service.broker.actual import read_actual, user_tags
from splp.directory_service.broker.apply import apply_plan
from splp.directory_service.broker.desired import BrokerNames, desired_state, next_expiry
from splp.directory_service.broker.lock import ReconcileLock
from splp.directory_service.broker.plan import Plan, plan
from splp.directory_service.broker.state import BrokerState, vhost_tag
from splp.directory_service.store import Store
from splp.errors import ServiceUnavailable, SplpError
from splp.log import get_logger
from splp.retry import keep_running
from splp.settings import Settings

log = get_logger("directory.broker")

EXPIRY_SLACK = 0.05
"""Seconds past an expiry to wake at, so the grant is already out of the desired state."""


@dataclass
class Drift:
    """What one reconcile found and repaired."""

    changes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    """Users whose connections were closed because their rights shrank."""
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{len(self.changes)} changes, connections of {len(self.closed)} users closed, "
            f"{len(self.problems)} problems, {self.seconds:.2f} s"
        )


@dataclass
class Status:
    desired: BrokerState
    actual: BrokerState
    plan: Plan


class BrokerReconciler:
    """Keeps the broker of ``settings`` (vhost, users, permissions, topology) like the store."""

    def __init__(self, store: Store, settings: Settings, *, timeout: float = 10.0) -> None:
        self.store = store
        self.settings = settings
        secret = settings.gateway_secret
        self.names = BrokerNames(
            settings.vhost,
            settings.broker_user_prefix,
            settings.queue_type,
            settings.dead_letter_ttl * 1000,
            secret.get_secret_value().encode() if secret is not None else None,
        )
        self.timeout = timeout
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self.shared_lock = ReconcileLock(store.engine, settings.vhost)
        """Held across processes from reading the store to the last change applied."""

    async def status(self) -> Status:
        """Desired and actual state and the plan between them (changes nothing)."""
        async with Management(self.settings, timeout=self.timeout) as management:
            return await self._status(management)

    async def _status(self, management: Management) -> Status:
        async with self.store.session() as session:
            desired = await desired_state(session, self.names)
        actual = await read_actual(management, self.names)
        return Status(desired, actual, plan(desired, actual))

    async def unmanaged_user(self, user: str) -> bool:
        """Whether the broker has a user ``user`` that this directory does not manage.

        SPLP never touches such a user, so a party by that name could never log in with
        the password it is given. ``False`` when SPLP does not manage broker users at
        all, and when the broker cannot be asked (the reconciler reports the conflict
        later, in ``splp broker status``).
        """
        if not self.settings.broker_reconcile:
            return False
        try:
            async with Management(self.settings, timeout=self.timeout) as management:
                found = await management.read(f"/api/users/{quote(user, safe='')}")
        except ServiceUnavailable as exc:
            log.warning("broker user %s not checked before adding its party: %s", user, exc)
            return False
        if found is None:
            return False
        return vhost_tag(self.names.vhost) not in user_tags(found.get("tags"))

    async def sync(self) -> Drift:
        """Reconcile once; raises :class:`~splp.errors.ServiceUnavailable` without a broker."""
        async with self._lock, self.shared_lock.held():
            started = time.perf_counter()
            async with Management(self.settings, timeout=self.timeout) as management:
                todo = (await self._status(management)).plan
                await apply_plan(management, self.settings.vhost, todo)
            closed = sorted(todo.close)
            drift = Drift(todo.changes, todo.problems, closed, time.perf_counter() - started)
        for change in drift.changes:
            log.info("broker drift repaired: %s", change)
        for problem in drift.problems:
            log.warning("broker: %s", problem)
        if closed:
            log.info("broker: closed connections of %s", ", ".join(closed))
        return drift

    async def after_change(self) -> Drift | None:
        """Reconcile after a change in the directory; a broker failure is logged, not raised."""
        if not self.settings.broker_reconcile:
            return None
        self._changed.set()  # a new grant may expire before the timer's next run
        try:
            return await self.sync()
        except SplpError as exc:
            log.warning("broker not reconciled (the timer retries): %s", exc)
            return None

    async def run_forever(self, interval: float) -> None:
        """Reconcile every ``interval`` seconds, and as soon as a grant expires (so the
        broker refuses it, and closes its connections, at once), until cancelled; an error
        of any kind is logged and the timer goes on (:func:`~splp.retry.keep_running`)."""

        async def tick() -> None:
            while True:
                await self.after_change()
                self._changed.clear()
                # The timeout first: a cancel while it is read must not leave an
                # Event.wait() coroutine created and never awaited.
                timeout = await self._until_next(interval)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout)

        await keep_running(
            tick,
            what="broker reconcile timer",
            initial=min(interval, 1.0),
            maximum=max(interval, 1.0),
            logger=log,
        )

    async def _until_next(self, interval: float) -> float:
        """Seconds until the next run: ``interval``, or less if a grant expires sooner."""
        try:
            async with self.store.session() as session:
                expiry = await next_expiry(session)
        except Exception as exc:  # the store may be down: keep the plain timer
            log.warning("broker: next grant expiry unknown (%s)", type(exc).__name__)
            return interval
        if expiry is None:
            return interval
        return min(interval, max(0.0, (expiry - utcnow()).total_seconds()) + EXPIRY_SLACK)
