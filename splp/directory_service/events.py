"""The directory's audit trail on the bus: ``access.*`` and ``admin.*`` events.

Events are metadata only (who, which service, which state). The free-text reason of a
step is left out: an official may well write a resident's name into it, so it stays in
the store's history, where access to it is controlled.

The broker is not needed for the directory to work: events wait in the
:class:`~splp.bus.audit_events.AuditEmitter` buffer until a connection is up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from aiormq.abc import AbstractConnection

from splp.bus.audit_events import AuditEmitter, audit_event
from splp.bus.connection import BrokerConnection
from splp.bus.names import AUDIT_EXCHANGE
from splp.errors import AccessDenied, ServiceUnavailable
from splp.log import get_logger
from splp.retry import retry_until_done
from splp.settings import Settings

log = get_logger("directory.audit")

SOURCE = "directory"
RETRY_SECONDS = (0.5, 30.0)


class DirectoryEvents:
    """Emits the directory's events; connects to the broker in the background on first use."""

    def __init__(
        self, broker_url: str | Sequence[str] | None, settings: Settings | None = None
    ) -> None:
        self.emitter = AuditEmitter()
        self._broker_url = broker_url
        self._settings = settings
        self._connection: BrokerConnection | None = None
        self._connector: asyncio.Task[None] | None = None

    def emit(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Queue an event (never blocks, never fails the request)."""
        event = audit_event(kind, SOURCE, **fields)
        self.emitter.emit(event)
        if self._broker_url and self._connector is None:
            self._connector = asyncio.create_task(self._connect(), name="splp-directory-audit")
        return event

    @property
    def backlog(self) -> int:
        return self.emitter.backlog

    async def _attach(self, connection: AbstractConnection) -> None:
        channel = await connection.channel()
        await channel.exchange_declare(AUDIT_EXCHANGE, exchange_type="topic", durable=True)
        await channel.close()
        await self.emitter.attach(connection)

    async def _connect(self) -> None:
        assert self._broker_url is not None
        broker_url = self._broker_url

        async def start() -> BrokerConnection:
            connection = BrokerConnection(
                broker_url, name="splp-directory", on_ready=self._attach, settings=self._settings
            )
            await connection.start()
            return connection

        self._connection = await retry_until_done(
            start,
            on=(ServiceUnavailable, AccessDenied, OSError),
            what="broker connection for audit events (they wait in memory)",
            initial=RETRY_SECONDS[0],
            maximum=RETRY_SECONDS[1],
            logger=log,
        )

    async def close(self, flush_timeout: float = 2.0) -> None:
        if self._connection is not None:
            await self.emitter.flush(flush_timeout)
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
            self._connector = None
        await self.emitter.close()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
