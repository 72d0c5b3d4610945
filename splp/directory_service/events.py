"""The directory's audit trail on the bus: ``access.*`` and ``admin.*`` events, through an
outbox.

Events are metadata only (who, which service, which state). "Who" is the party and, when
a signed-in person made the request, that person's e-mail (``person``). The free-text
reason of a step is left out: an official may well write a resident's name into it, so it stays in
the store's history, where access to it is controlled.

:meth:`DirectoryEvents.emit` adds the event to the ``audit_outbox`` table in the
transaction of the change it records: the change and its event are committed together,
or neither is. A relay task publishes the outbox's rows in order, through an
:class:`~splp.bus.audit_events.AuditEmitter` (persistent messages, publisher confirms),
and deletes each row once the broker has confirmed it. It wakes after each commit and
every :data:`POLL_SECONDS`, so the rows left by a directory that stopped, or written
while the broker was unreachable, go out once it is back. A row published but not yet
deleted when the process dies is published again: the sink stores each event id once.

The broker is not needed for the directory to work: events wait in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import orjson
from aiormq.abc import AbstractConnection
from sqlalchemy import delete, event, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from splp.bus.audit_events import AuditEmitter, Then, audit_event, audit_routing_key
from splp.bus.connection import BrokerConnection
from splp.bus.names import AUDIT_EXCHANGE
from splp.directory_service.models import AuditOutbox
from splp.directory_service.parties import acting_person
from splp.directory_service.store import Store
from splp.errors import AccessDenied, ServiceUnavailable
from splp.log import get_logger
from splp.retry import keep_running, retry_until_done
from splp.settings import Settings

log = get_logger("directory.audit")

SOURCE = "directory"
RETRY_SECONDS = (0.5, 30.0)
POLL_SECONDS = 5.0
BATCH = 500


class DirectoryEvents:
    """Writes the directory's events to the outbox and relays them to the broker.

    Without a ``store`` (or a ``broker_url``) the relay does not run and the rows wait.
    ``broker_url`` may list the nodes of a cluster.
    """

    def __init__(
        self,
        broker_url: str | Sequence[str] | None,
        settings: Settings | None = None,
        store: Store | None = None,
    ) -> None:
        # never drops: the outbox holds the events, the emitter only those being sent
        self.emitter = AuditEmitter(fail_closed=True)
        self._broker_url = broker_url
        self._settings = settings
        self._store = store
        self._connection: BrokerConnection | None = None
        self._relay: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._pending: set[int] = set()
        self._confirmed: list[int] = []

    def emit(self, session: AsyncSession, kind: str, **fields: Any) -> dict[str, Any]:
        """Add an event to ``session``'s transaction (never blocks, never fails the request).

        The relay publishes it after the commit.
        """
        person = acting_person.get()
        if person is not None and "person" not in fields:
            fields["person"] = person
        made = audit_event(kind, SOURCE, **fields)
        session.add(
            AuditOutbox(
                event_id=made["id"],
                routing_key=audit_routing_key(made),
                event=orjson.dumps(made).decode(),
            )
        )
        if not session.info.get("splp_audit_outbox"):
            session.info["splp_audit_outbox"] = True
            event.listen(session.sync_session, "after_commit", self._after_commit)
        return made

    def _after_commit(self, _session: object) -> None:
        self.start()
        self._wakeup.set()

    def start(self) -> None:
        """Start the relay (idempotent): rows left from before are published too."""
        if self._store is None or not self._broker_url:
            return
        if self._relay is None or self._relay.done():
            self._relay = asyncio.create_task(
                keep_running(
                    self._run,
                    what="directory audit relay",
                    initial=RETRY_SECONDS[0],
                    maximum=RETRY_SECONDS[1],
                    logger=log,
                ),
                name="splp-directory-audit",
            )

    @property
    def backlog(self) -> int:
        """Events taken from the outbox and not yet confirmed by the broker."""
        return len(self._pending)

    async def pending(self) -> list[dict[str, Any]]:
        """The events in the outbox, oldest first (for tests and operators)."""
        if self._store is None:
            return []
        async with self._store.session() as session:
            rows = (await session.scalars(select(AuditOutbox).order_by(AuditOutbox.id))).all()
        return [orjson.loads(row.event) for row in rows]

    async def _attach(self, connection: AbstractConnection) -> None:
        channel = await connection.channel()
        await channel.exchange_declare(AUDIT_EXCHANGE, exchange_type="topic", durable=True)
        await channel.close()
        await self.emitter.attach(connection)

    async def _connect(self) -> BrokerConnection:
        assert self._broker_url is not None
        broker_url = self._broker_url

        async def start() -> BrokerConnection:
            connection = BrokerConnection(
                broker_url, name="splp-directory", on_ready=self._attach, settings=self._settings
            )
            await connection.start()
            return connection

        return await retry_until_done(
            start,
            on=(ServiceUnavailable, AccessDenied, OSError),
            what="broker connection for audit events (they wait in the outbox)",
            initial=RETRY_SECONDS[0],
            maximum=RETRY_SECONDS[1],
            logger=log,
        )

    async def _run(self) -> None:
        if self._connection is None:  # a restart after an error keeps the connection
            self._connection = await self._connect()
        while True:
            try:
                await self._relay_once()
            except SQLAlchemyError as exc:
                log.warning("cannot read or clear the audit outbox (retrying): %r", exc)
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), POLL_SECONDS)

    async def _relay_once(self) -> None:
        """Delete the confirmed rows; hand the new ones to the emitter."""
        await self._clear_confirmed()
        if len(self._pending) >= BATCH:
            return  # the emitter is behind: wait for its confirms
        assert self._store is not None
        async with self._store.session() as session:
            rows = (
                await session.execute(
                    select(AuditOutbox.id, AuditOutbox.event)
                    .order_by(AuditOutbox.id)
                    .limit(len(self._pending) + BATCH)
                )
            ).all()
        for row_id, text in rows:
            if row_id in self._pending:
                continue
            self._pending.add(row_id)
            self.emitter.emit(orjson.loads(text), self._confirm(row_id))

    async def _clear_confirmed(self) -> None:
        assert self._store is not None
        confirmed, self._confirmed = self._confirmed, []
        if confirmed:
            try:
                async with self._store.session() as session:
                    await session.execute(delete(AuditOutbox).where(AuditOutbox.id.in_(confirmed)))
            except SQLAlchemyError:
                self._confirmed.extend(confirmed)
                raise
            self._pending.difference_update(confirmed)

    def _confirm(self, row_id: int) -> Then:
        async def confirmed() -> None:
            self._confirmed.append(row_id)
            self._wakeup.set()

        return confirmed

    async def close(self, flush_timeout: float = 2.0) -> None:
        if self._connection is not None:
            await self.emitter.flush(flush_timeout)
            with contextlib.suppress(SQLAlchemyError):
                await self._clear_confirmed()
        if self._relay is not None:
            self._relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay
            self._relay = None
        await self.emitter.close()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
