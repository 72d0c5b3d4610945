"""Audit events: metadata-only records of what crossed the bus, published on ``splp.audit``.

An event follows ``schemas/audit-event.schema.json``. It never carries a payload, a token
or a password: only names, identifiers, statuses, sizes and durations.

On the wire, one audit message carries a JSON **array** of one or more events that share
its routing key: under load an adapter answers hundreds of requests per second, and one
message per event would cost the broker and both processes as much as the requests
themselves. Consumers decode a message with :func:`decode_audit_message`.

The :class:`AuditEmitter` never blocks the request path: :meth:`AuditEmitter.emit` appends
to a bounded buffer, and a background task publishes batches (after lingering up to 25
milliseconds so a burst leaves together) as persistent messages with publisher
confirms. Events that were not confirmed stay in the buffer and are sent again after a
reconnect, so a consumer may see an event twice (de-duplicate by ``id``), but not lose it
while the emitter's process lives. Every message carries the connection's broker user as
its ``user_id``: the broker refuses a mismatch, so the audit sink knows who sent it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any

import aiormq
from aiormq import spec
from aiormq.abc import AbstractChannel, AbstractConnection

from splp.bus.names import AUDIT_EXCHANGE
from splp.bus.wire import CONTENT_TYPE, HEADER_PROTOCOL, PROTOCOL_VERSION, dumps, loads
from splp.errors import ContractError
from splp.log import get_logger

log = get_logger("audit")

BATCH = 256
LINGER_SECONDS = 0.025
HEADER_AUDIT_COUNT = "splp-audit-count"


def audit_event(kind: str, source: str, **fields: Any) -> dict[str, Any]:
    """A new event; ``fields`` with a ``None`` value are left out.

    >>> e = audit_event("response", "adapter", theme="kependudukan", status=200, reason=None)
    >>> sorted(e)
    ['id', 'kind', 'source', 'status', 'theme', 'time']
    """
    event: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "kind": kind,
        "source": source,
    }
    event.update((k, v) for k, v in fields.items() if v is not None)
    return event


def audit_routing_key(event: dict[str, Any]) -> str:
    """``<kind>.<theme>.<publisher>.<service>``, with ``-`` for a missing part."""
    return ".".join(
        str(event.get(part) or "-") for part in ("kind", "theme", "publisher", "service")
    )


def decode_audit_message(body: bytes) -> list[dict[str, Any]]:
    """The events in one message from ``splp.audit`` (a JSON array of event objects).

    >>> decode_audit_message(b'[{"id": "a", "kind": "response"}]')
    [{'id': 'a', 'kind': 'response'}]
    """
    events = loads(body)
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise ContractError("an audit message must be a JSON array of event objects")
    return events


class AuditEmitter:
    """Publishes audit events in the background; see the module docstring."""

    def __init__(self, max_buffer: int = 100_000, linger: float = LINGER_SECONDS) -> None:
        self._buffer: deque[dict[str, Any]] = deque()
        self._max_buffer = max_buffer
        self._linger = linger
        self._wakeup = asyncio.Event()
        self._channel: AbstractChannel | None = None
        self._user_id: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._in_flight = 0
        self.dropped = 0

    @property
    def backlog(self) -> int:
        return len(self._buffer)

    async def attach(self, connection: AbstractConnection) -> None:
        """Publish through ``connection`` (call again after every reconnect)."""
        self._channel = await connection.channel(publisher_confirms=True)
        self._user_id = connection.url.user or "guest"  # AMQP's default user when none given
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="splp-audit")
        self._wakeup.set()

    def emit(self, event: dict[str, Any]) -> None:
        if len(self._buffer) >= self._max_buffer:
            self._buffer.popleft()
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.error("audit buffer full: %d events dropped so far", self.dropped)
        self._buffer.append(event)
        self._wakeup.set()

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the buffer is empty; ``False`` if it is not after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while (self._buffer or self._in_flight) and loop.time() < end:
            self._wakeup.set()
            await asyncio.sleep(0.01)
        return not (self._buffer or self._in_flight)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            if len(self._buffer) < BATCH:
                await asyncio.sleep(self._linger)
            self._wakeup.clear()
            while self._buffer:
                channel = self._channel
                if channel is None or channel.is_closed:
                    break
                batch = [self._buffer.popleft() for _ in range(min(BATCH, len(self._buffer)))]
                self._in_flight = len(batch)
                try:
                    await asyncio.gather(
                        *(
                            self._publish(channel, key, events, self._user_id)
                            for key, events in _by_key(batch)
                        )
                    )
                except (aiormq.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
                    log.warning("audit publish failed, %d events kept: %r", len(batch), exc)
                    self._buffer.extendleft(reversed(batch))
                    break
                finally:
                    self._in_flight = 0

    @staticmethod
    async def _publish(
        channel: AbstractChannel,
        routing_key: str,
        events: list[dict[str, Any]],
        user_id: str | None,
    ) -> None:
        await channel.basic_publish(
            dumps(events),
            exchange=AUDIT_EXCHANGE,
            routing_key=routing_key,
            properties=spec.Basic.Properties(
                content_type=CONTENT_TYPE,
                delivery_mode=2,
                message_id=events[0]["id"],
                message_type=events[0]["kind"],
                user_id=user_id,
                headers={HEADER_PROTOCOL: PROTOCOL_VERSION, HEADER_AUDIT_COUNT: len(events)},
            ),
        )


def _by_key(events: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """``events`` grouped by routing key, keeping their order within each group."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        groups.setdefault(audit_routing_key(event), []).append(event)
    return list(groups.items())
