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
while the emitter's process lives.

An event may come with a ``then`` callback, called once the broker has confirmed it (or
once it was dropped): the adapter acknowledges a request only then, so a process killed
before the confirm leaves the request to be delivered again. Such an event leaves at once
(no linger): its request holds a prefetch slot until then, and the events that arrive
while a batch waits for its confirm make up the next batch. The id of a call's event is
derived from the call (:func:`call_event_id`), so the event of an answer given again
after a redelivery has the id of the first and the sink stores the call once.

Failing open (the default), the emitter stops holding requests while the broker refuses
its publishes (e.g. the exchange is missing): from the first failure until the next
confirm, ``then`` is called at once and the event waits in the buffer; when the buffer is
full, the oldest event is dropped and counted in ``splp_audit_events_dropped_total``.
Failing closed (``fail_closed``), nothing is released early and nothing is dropped:
requests wait for their confirm, and :attr:`AuditEmitter.full` tells the producer to stop
taking work.

Every message carries the connection's broker user as its ``user_id``: the broker refuses a
mismatch, so the audit sink knows who sent it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiormq
from aiormq import spec
from aiormq.abc import AbstractChannel, AbstractConnection
from prometheus_client import CollectorRegistry, Counter

from splp.bus.names import AUDIT_EXCHANGE
from splp.bus.wire import CONTENT_TYPE, HEADER_PROTOCOL, PROTOCOL_VERSION, dumps, loads
from splp.errors import ContractError
from splp.log import get_logger
from splp.retry import keep_running

log = get_logger("audit")

BATCH = 256
LINGER_SECONDS = 0.025
HEADER_AUDIT_COUNT = "splp-audit-count"
REOPEN_SECONDS = 1.0
CALL_NAMESPACE = uuid.UUID("6f0b6a52-3c1e-5d8e-9b7a-2f4c1d0e5a93")

Then = Callable[[], Awaitable[None]]


def call_event_id(queue: str, user_id: str | None, message_id: str | None) -> str:
    """The id of the audit event of one call: the same for every delivery of the request.

    It is derived from the service queue, the caller's broker-validated ``user_id`` and the
    request's ``message_id``, so one requester cannot make its calls collide with another's.
    A request without a ``message_id`` gets a random id (its redelivery cannot be told).

    >>> a = call_event_id("splp.svc.dukcapil.penduduk.v1", "dinsos", "m-1")
    >>> a == call_event_id("splp.svc.dukcapil.penduduk.v1", "dinsos", "m-1"), len(a)
    (True, 32)
    >>> a == call_event_id("splp.svc.dukcapil.penduduk.v1", "bappeda", "m-1")
    False
    """
    if not message_id:
        return uuid.uuid4().hex
    return uuid.uuid5(CALL_NAMESPACE, f"{queue}\n{user_id or ''}\n{message_id}").hex


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
    """Publishes audit events in the background; see the module docstring.

    ``registry`` gets the ``splp_audit_events_dropped_total`` counter (a registry of its
    own by default).
    """

    def __init__(
        self,
        max_buffer: int = 100_000,
        linger: float = LINGER_SECONDS,
        *,
        fail_closed: bool = False,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._buffer: deque[tuple[dict[str, Any], Then | None]] = deque()
        self.max_buffer = max_buffer
        self.fail_closed = fail_closed
        self._linger = linger
        self._urgent = False
        self._wakeup = asyncio.Event()
        self._sent = asyncio.Event()
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._user_id: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._dropped_count = 0
        self._failing = False
        self._settling: set[asyncio.Future[None]] = set()
        self._dropped = Counter(
            "splp_audit_events_dropped_total",
            "Audit events dropped because the emitter's buffer was full (fail open).",
            registry=registry if registry is not None else CollectorRegistry(),
        )

    @property
    def backlog(self) -> int:
        return len(self._buffer)

    @property
    def dropped(self) -> int:
        """Events dropped so far (``splp_audit_events_dropped_total``)."""
        return self._dropped_count

    @property
    def full(self) -> bool:
        """Whether the buffer holds ``max_buffer`` events (or more, when failing closed),
        counting those being published: a failed publish puts them back."""
        return len(self._buffer) + self._in_flight >= self.max_buffer

    async def attach(self, connection: AbstractConnection) -> None:
        """Publish through ``connection`` (call again after every reconnect)."""
        self._connection = connection
        self._channel = await connection.channel(publisher_confirms=True)
        self._user_id = connection.url.user or "guest"  # AMQP's default user when none given
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(
                keep_running(self._run, what="audit emitter", initial=0.1, maximum=5.0, logger=log),
                name="splp-audit",
            )
        self._wakeup.set()

    def emit(self, event: dict[str, Any], then: Then | None = None) -> None:
        """Queue ``event``; ``then()`` is awaited once the broker confirmed it (or it was
        dropped). It must not raise."""
        if len(self._buffer) >= self.max_buffer and not self.fail_closed:
            _, dropped_then = self._buffer.popleft()
            self._dropped.inc()
            self._dropped_count += 1
            if self.dropped % 1000 == 1:
                log.error("audit buffer full: %d events dropped so far", self.dropped)
            if dropped_then is not None:
                self._release(dropped_then)
        if then is not None and self._failing and not self.fail_closed:
            self._release(then)
            then = None
        self._buffer.append((event, then))
        if then is not None:
            self._urgent = True
        self._wakeup.set()

    async def wait_below(self, count: int) -> None:
        """Return once at most ``count`` events wait (fail closed: to take work again)."""
        while len(self._buffer) + self._in_flight > count:
            self._sent.clear()
            await self._sent.wait()

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
            if len(self._buffer) < BATCH and not self._urgent:
                await asyncio.sleep(self._linger)
            self._wakeup.clear()
            self._urgent = False
            while self._buffer:
                channel = await self._open_channel()
                if channel is None:
                    break
                batch = [self._buffer.popleft() for _ in range(min(BATCH, len(self._buffer)))]
                self._in_flight = len(batch)
                try:
                    await asyncio.gather(
                        *(
                            self._publish(channel, key, events, self._user_id)
                            for key, events in _by_key([event for event, _ in batch])
                        )
                    )
                except (aiormq.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
                    log.warning("audit publish failed, %d events kept: %r", len(batch), exc)
                    self._buffer.extendleft(reversed(batch))
                    self._in_flight = 0  # back in the buffer: counted there
                    if not self.fail_closed:
                        self._failing = True
                        self._release_all()
                    if self._connection is not None and not self._connection.is_closed:
                        await asyncio.sleep(REOPEN_SECONDS)  # e.g. the exchange is missing
                        self._wakeup.set()
                    break
                else:
                    self._failing = False
                    self._in_flight = 0  # confirmed: no longer at risk of coming back
                    self._sent.set()
                    for _, then in batch:
                        if then is not None:
                            await then()
                finally:
                    self._in_flight = 0

    def _release(self, then: Then) -> None:
        settling = asyncio.ensure_future(then())
        self._settling.add(settling)
        settling.add_done_callback(self._settling.discard)

    def _release_all(self) -> None:
        """Fail open: settle every held request now; their events wait in the buffer."""
        held = [then for _, then in self._buffer if then is not None]
        if held:
            log.error("audit publishes fail: %d requests are acked before their events", len(held))
            self._buffer = deque((event, None) for event, _ in self._buffer)
            for then in held:
                self._release(then)

    async def _open_channel(self) -> AbstractChannel | None:
        """The confirming channel, opened again if the broker closed it on a live connection."""
        channel = self._channel
        if channel is not None and not channel.is_closed:
            return channel
        connection = self._connection
        if connection is None or connection.is_closed:
            return None  # attach() is called again after the reconnect
        try:
            self._channel = await connection.channel(publisher_confirms=True)
        except (aiormq.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
            log.warning("cannot open a channel for audit events: %r", exc)
            return None
        return self._channel

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
