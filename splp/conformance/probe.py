"""Raw AMQP probes of the conformance kit: a requester that may break every rule, and a
watcher of what the implementation under test leaves on ``splp.audit`` and ``splp.dlx``.

The kit's own connection holds full rights on the throw-away vhost, so it can publish
what no real requester could (through the default exchange, without ``user_id``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiormq import spec
from aiormq.abc import AbstractChannel, AbstractConnection, DeliveredMessage

from splp.bus.names import AUDIT_EXCHANGE, DEAD_LETTER_EXCHANGE, DIRECT_REPLY_TO
from splp.conformance.checklist import Failed
from splp.conformance.testbus import EXCHANGE, OPERATION, QUEUE, ROUTING_KEY, SERVICE

WAIT = 5.0


def request_properties(user: str | None, timeout_ms: int = 5000, **changes: Any) -> Any:
    """A request that follows §5.2, with ``changes`` (a value of ``None`` leaves one out)."""
    now_ms = int(time.time() * 1000)
    values: dict[str, Any] = {
        "message_id": uuid.uuid4().hex,
        "correlation_id": uuid.uuid4().hex,
        "reply_to": DIRECT_REPLY_TO,
        "user_id": user,
        "timestamp": datetime.fromtimestamp(now_ms // 1000, tz=UTC),
        "expiration": str(timeout_ms),
        "content_type": "application/json",
        "message_type": OPERATION,
        "delivery_mode": 1,
        "headers": {"splp-protocol": 1, "splp-deadline": now_ms + timeout_ms},
    }
    values.update(changes)
    return spec.Basic.Properties(**values)


class Inbox:
    """Messages of one consumer, searchable by a predicate while they keep arriving."""

    def __init__(self) -> None:
        self.messages: list[DeliveredMessage] = []
        self._arrived = asyncio.Event()

    async def put(self, message: DeliveredMessage) -> None:
        self.messages.append(message)
        self._arrived.set()

    async def find(
        self, match: Callable[[DeliveredMessage], bool], wait: float = WAIT
    ) -> DeliveredMessage | None:
        """The first message matching ``match`` within ``wait`` seconds, else None."""
        end = time.monotonic() + wait
        while True:
            found = next((m for m in self.messages if match(m)), None)
            if found is not None or time.monotonic() >= end:
                return found
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), end - time.monotonic())


async def tap(channel: AbstractChannel, exchange: str, binding_key: str) -> Inbox:
    """A private queue bound to ``exchange``, consumed into an :class:`Inbox`."""
    declared = await channel.queue_declare("", exclusive=True, auto_delete=True)
    assert declared.queue
    await channel.queue_bind(declared.queue, exchange, routing_key=binding_key)
    inbox = Inbox()
    await channel.basic_consume(declared.queue, inbox.put, no_ack=True)
    return inbox


def message_id_is(message_id: str) -> Callable[[DeliveredMessage], bool]:
    return lambda m: m.header.properties.message_id == message_id


class Probe:
    """The kit's raw requester, its reply consumer, and taps on the audit and dead letters.

    ``wait`` is how long it waits for a reply, a dead letter or an audit event that should
    come (the §-rules give a server 5 s).
    """

    def __init__(self, connection: AbstractConnection, user: str, wait: float = WAIT) -> None:
        self.connection = connection
        self.user = user
        self.wait = wait

    async def open(self) -> Probe:
        watch = await self.connection.channel()
        self.audit = await tap(watch, AUDIT_EXCHANGE, "#")
        self.dead = await tap(watch, DEAD_LETTER_EXCHANGE, "#")
        self.requests = await tap(watch, EXCHANGE, f"{SERVICE}.*")  # "#" would route anything
        self.watch = watch
        self.channel = await self.connection.channel(publisher_confirms=True)
        self.replies = Inbox()
        await self.channel.basic_consume(DIRECT_REPLY_TO, self.replies.put, no_ack=True)
        return self

    def properties(self, timeout_ms: int = 5000, **changes: Any) -> Any:
        return request_properties(self.user, timeout_ms, **changes)

    async def send(
        self,
        body: bytes | Any,
        properties: spec.Basic.Properties,
        *,
        exchange: str = EXCHANGE,
        routing_key: str = ROUTING_KEY,
    ) -> None:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        await self.channel.basic_publish(
            data, exchange=exchange, routing_key=routing_key, properties=properties
        )

    async def inject(self, body: Any, properties: spec.Basic.Properties) -> None:
        """Publish straight to the service queue through the default exchange."""
        await self.send(body, properties, exchange="", routing_key=QUEUE)

    async def reply(self, properties: spec.Basic.Properties, wait: float | None = None) -> Reply:
        correlation_id = properties.correlation_id
        wait = self.wait if wait is None else wait
        found = await self.replies.find(
            lambda m: m.header.properties.correlation_id == correlation_id, wait
        )
        if found is None:
            raise Failed(f"no reply within {wait:g} s")
        return Reply(found)

    async def call(self, body: bytes | Any, **changes: Any) -> Reply:
        properties = self.properties(**changes)
        await self.send(body, properties)
        return await self.reply(properties)

    async def no_reply(self, properties: spec.Basic.Properties, wait: float = 0.5) -> None:
        found = await self.replies.find(
            lambda m: m.header.properties.correlation_id == properties.correlation_id, wait
        )
        if found is not None:
            raise Failed(f"answered with splp-status {Reply(found).status!r}; nobody may be told")

    async def dead_letter(self, properties: spec.Basic.Properties) -> DeliveredMessage:
        letter = await self.dead.find(message_id_is(properties.message_id or ""), self.wait)
        if letter is None:
            raise Failed(f"not rejected to splp.dlx (no dead letter within {self.wait:g} s)")
        return letter

    async def event(self, properties: spec.Basic.Properties) -> tuple[str, dict[str, Any]]:
        """The routing key and the audit event about the request with ``properties``."""
        message_id = properties.message_id

        def about(message: DeliveredMessage) -> bool:
            return _event_in(message, message_id) is not None

        found = await self.audit.find(about, self.wait)
        if found is None:
            raise Failed(f"no audit event on splp.audit within {self.wait:g} s")
        event = _event_in(found, message_id)
        assert event is not None
        return found.routing_key or "", event

    async def close(self) -> None:
        for channel in (self.channel, self.watch):
            if not channel.is_closed:
                await channel.close()


def _event_in(message: DeliveredMessage, message_id: str | None) -> dict[str, Any] | None:
    try:
        events = orjson.loads(message.body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(events, list):
        return None
    return next(
        (e for e in events if isinstance(e, dict) and e.get("message_id") == message_id), None
    )


class Reply:
    """A reply as the kit reads it: ``status`` (raw header value), ``body`` (decoded or None)."""

    def __init__(self, message: DeliveredMessage) -> None:
        self.message = message
        self.properties = message.header.properties
        self.status = (self.properties.headers or {}).get("splp-status")
        try:
            self.body: Any = orjson.loads(message.body)
        except orjson.JSONDecodeError:
            self.body = None

    def problem_type(self) -> str | None:
        return self.body.get("type") if isinstance(self.body, dict) else None

    def expect(self, status: int, problem_type: str | None = None) -> None:
        seen = f"splp-status {self.status!r}, type {self.problem_type()!r}"
        if self.status != status or isinstance(self.status, bool):
            raise Failed(f"expected splp-status {status}; got {seen}")
        if problem_type and self.problem_type() != f"urn:splp:problem:{problem_type}":
            raise Failed(f"expected problem type urn:splp:problem:{problem_type}; got {seen}")


_ENVELOPE_MEMBERS = {
    "content_type": "content_type",
    "content_encoding": "content_encoding",
    "delivery_mode": "delivery_mode",
    "priority": "priority",
    "correlation_id": "correlation_id",
    "reply_to": "reply_to",
    "expiration": "expiration",
    "message_id": "message_id",
    "type": "message_type",
    "user_id": "user_id",
    "app_id": "app_id",
}


def envelope_of(properties: spec.Basic.Properties) -> dict[str, Any]:
    """The properties as the JSON object of ``schemas/envelope.schema.json`` (§15)."""
    envelope: dict[str, Any] = {
        member: getattr(properties, attribute)
        for member, attribute in _ENVELOPE_MEMBERS.items()
        if getattr(properties, attribute) not in (None, "")
    }
    if properties.timestamp is not None:
        envelope["timestamp"] = int(properties.timestamp.timestamp())
    if properties.headers:
        envelope["headers"] = {
            str(k): v.decode(errors="replace") if isinstance(v, bytes) else v
            for k, v in properties.headers.items()
        }
    return envelope
