"""The broker reconciler: makes RabbitMQ enforce the directory's parties and grants.

>>> reconciler = BrokerReconciler(store, settings)   # doctest: +SKIP
>>> drift = await reconciler.sync()                   # doctest: +SKIP
>>> print(drift.summary())                            # doctest: +SKIP

It reads the desired state from the store and the actual state from the management API
(a few bulk GETs), diffs them and applies only the changes, so a run with nothing to do
costs only the reads. It runs after every change in the directory
(:meth:`after_change`, which never fails the API call), on a timer in
``splp directory serve`` (:meth:`run_forever`), and by hand as ``splp broker sync``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from splp.bus.management import Management
from splp.directory_service.broker.actual import read_actual
from splp.directory_service.broker.apply import apply_plan
from splp.directory_service.broker.desired import BrokerNames, desired_state
from splp.directory_service.broker.plan import Plan, plan
from splp.directory_service.broker.state import BrokerState
from splp.directory_service.store import Store
from splp.errors import SplpError
from splp.log import get_logger
from splp.settings import Settings

log = get_logger("directory.broker")


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

    async def status(self) -> Status:
        """Desired and actual state and the plan between them (changes nothing)."""
        async with Management(self.settings, timeout=self.timeout) as management:
            return await self._status(management)

    async def _status(self, management: Management) -> Status:
        async with self.store.session() as session:
            desired = await desired_state(session, self.names)
        actual = await read_actual(management, self.names)
        return Status(desired, actual, plan(desired, actual))

    async def sync(self) -> Drift:
        """Reconcile once; raises :class:`~splp.errors.ServiceUnavailable` without a broker."""
        async with self._lock:
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
        try:
            return await self.sync()
        except SplpError as exc:
            log.warning("broker not reconciled (the timer retries): %s", exc)
            return None

    async def run_forever(self, interval: float) -> None:
        """Reconcile every ``interval`` seconds until cancelled."""
        while True:
            await self.after_change()
            await asyncio.sleep(interval)
