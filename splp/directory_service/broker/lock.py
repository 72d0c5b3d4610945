"""One reconcile at a time across processes: ``splp broker sync`` and every directory
replica read the store, plan and apply inside the same lock, so none applies a plan made
from a state that another has already moved past.

* **PostgreSQL**: a session advisory lock (``pg_try_advisory_lock``) on a connection held
  for the whole reconcile; a crashed holder's connection ends and frees it.
* **SQLite**: a row of ``reconcile_locks`` (name, holder, lease expiry), taken by an
  insert or by a conditional update of an expired lease, renewed while the reconcile runs
  and deleted at the end; a crashed holder's lease runs out.

The table is operational state, not data: it is left out of backups.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

from sqlalchemy import Column, MetaData, String, Table, delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from splp.db import NAMING, UtcDateTime, utcnow
from splp.errors import ConfigurationError, ServiceUnavailable
from splp.log import get_logger

log = get_logger("directory.broker")

lock_metadata = MetaData(naming_convention=NAMING)
reconcile_locks = Table(
    "reconcile_locks",
    lock_metadata,
    Column("name", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)


def _advisory_key(name: str) -> int:
    """A signed 64-bit key for ``pg_advisory_lock``, the same in every process."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class ReconcileLock:
    """The lock named ``name`` (one per vhost) on the store's database.

    >>> lock = ReconcileLock(store.engine, "splp")   # doctest: +SKIP
    >>> async with lock.held():                       # doctest: +SKIP
    ...     ...  # read, plan, apply
    """

    def __init__(
        self,
        engine: AsyncEngine,
        name: str,
        *,
        wait: float = 60.0,
        lease: float = 60.0,
        poll: float = 0.2,
    ) -> None:
        self.engine = engine
        self.name = f"broker-reconcile:{name}"
        self.wait = wait
        self.lease = lease
        self.poll = poll
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Hold the lock for the block; wait up to ``wait`` seconds for it, else raise
        :class:`~splp.errors.ServiceUnavailable` naming the holder."""
        if self.engine.dialect.name == "postgresql":
            async with self._advisory():
                yield
            return
        await self._take_row()
        renew = asyncio.create_task(self._renew(), name="splp-reconcile-lease")
        try:
            yield
        finally:
            renew.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renew
            async with self.engine.begin() as connection:
                await connection.execute(
                    delete(reconcile_locks).where(
                        reconcile_locks.c.name == self.name,
                        reconcile_locks.c.holder == self.holder,
                    )
                )

    @contextlib.asynccontextmanager
    async def _advisory(self) -> AsyncIterator[None]:
        key = _advisory_key(self.name)
        async with self.engine.connect() as connection:
            await self._until(lambda: self._try_advisory(connection, key), "another process")
            try:
                yield
            finally:
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                await connection.commit()

    @staticmethod
    async def _try_advisory(connection: AsyncConnection, key: int) -> bool:
        taken = await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
        await connection.commit()  # session lock: it outlives the transaction
        return bool(taken)

    async def _take_row(self) -> None:
        try:
            await self._until(self._try_row, None)
        except DBAPIError as exc:
            if "reconcile_locks" not in str(exc):
                raise
            raise ConfigurationError(
                "the store has no reconcile_locks table (an older schema): upgrade it with "
                "splp directory init"
            ) from None

    async def _try_row(self) -> bool:
        now = utcnow()
        expires = now + timedelta(seconds=self.lease)
        try:
            async with self.engine.begin() as connection:
                await connection.execute(
                    insert(reconcile_locks).values(
                        name=self.name, holder=self.holder, expires_at=expires
                    )
                )
            return True
        except IntegrityError:
            pass
        async with self.engine.begin() as connection:
            taken = await connection.execute(
                update(reconcile_locks)
                .where(reconcile_locks.c.name == self.name, reconcile_locks.c.expires_at <= now)
                .values(holder=self.holder, expires_at=expires)
            )
            return bool(taken.rowcount)

    async def _holder(self) -> str:
        async with self.engine.connect() as connection:
            holder = await connection.scalar(
                select(reconcile_locks.c.holder).where(reconcile_locks.c.name == self.name)
            )
        return holder or "another process"

    async def _until(self, attempt: Callable[[], Awaitable[bool]], holder: str | None) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        told = False
        while not await attempt():
            who = holder or await self._holder()
            if loop.time() >= deadline:
                raise ServiceUnavailable(
                    f"the broker reconcile lock is held by {who} for more than {self.wait:g} s;"
                    " try again later"
                )
            if not told:
                log.warning("broker: waiting for the reconcile lock held by %s", who)
                told = True
            await asyncio.sleep(self.poll)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                async with self.engine.begin() as connection:
                    await connection.execute(
                        update(reconcile_locks)
                        .where(
                            reconcile_locks.c.name == self.name,
                            reconcile_locks.c.holder == self.holder,
                        )
                        .values(expires_at=utcnow() + timedelta(seconds=self.lease))
                    )
            except Exception as exc:  # the next renewal retries; the lease covers a miss
                log.warning("broker: reconcile lock lease not renewed: %s", type(exc).__name__)
