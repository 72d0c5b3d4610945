"""Broker-level security events in the audit trail, from RabbitMQ's event exchange.

The ``rabbitmq_event_exchange`` plugin publishes what happens inside the broker to the
topic exchange ``amq.rabbitmq.event`` (in the vhost of its ``rabbitmq_event_exchange.vhost``
setting, ``/`` by default), the details in the message headers. :class:`BrokerEvents`
binds a durable queue of its own to the keys in :data:`ROUTING_KEYS`, turns each message
into a ``broker.*`` audit event and stores it in the same hash chain as every other
event, acknowledging only after the commit.

Recorded: failed logins, connections opened and closed, (topic) permissions granted and
withdrawn, users created, deleted, given tags or a new password. Not recorded: successful
logins, because every management API request authenticates (the reconciler polls it)
and an AMQP login that succeeds is recorded as ``connection.created`` with its user.

Only named metadata members are copied (user, vhost, peer host and port, reason, ...):
never a header that could hold a password or a client's properties.

>>> event = broker_event("user.authentication.failure", {
...     "name": "dinsos", "error": list(b"user 'dinsos' - invalid credentials"),
...     "peer_host": "{127,0,0,1}", "auth_mechanism": "PLAIN", "timestamp_in_ms": 0})
>>> event["kind"], event["user"], event["peer_host"], event["reason"]
('broker.user-authentication-failure', 'dinsos', '127.0.0.1', "user 'dinsos' - invalid credentials")
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiormq
from aiormq.abc import AbstractChannel, AbstractConnection, DeliveredMessage
from sqlalchemy.exc import SQLAlchemyError

from splp.audit.chain import sorted_json
from splp.audit.screen import Screened, screen
from splp.audit.store import AuditStore
from splp.bus.connection import BrokerConnection
from splp.log import get_logger
from splp.retry import retry_until_done
from splp.settings import Settings

log = get_logger("audit.broker-events")

EVENT_EXCHANGE = "amq.rabbitmq.event"
QUEUE = "splp.audit.broker-events"
ROUTING_KEYS = (
    "user.authentication.failure",
    "connection.created",
    "connection.closed",
    "permission.created",
    "permission.deleted",
    "topic.permission.created",
    "topic.permission.deleted",
    "user.created",
    "user.deleted",
    "user.password.changed",
    "user.password.cleared",
    "user.tags.set",
)
# header -> member of the audit event; nothing else is copied
COPIED = {
    "user": "user",
    "vhost": "vhost",
    "peer_host": "peer_host",
    "peer_port": "peer_port",
    "error": "reason",
    "auth_mechanism": "auth_mechanism",
    "connection_type": "connection_type",
    "user_who_performed_action": "actor",
    "configure": "configure",
    "write": "write",
    "read": "read",
    "exchange": "exchange",
    "tags": "tags",
}
MAX_TEXT = 255
LINGER = 0.1
RETRY_SECONDS = (0.2, 10.0)


def _text(value: Any) -> Any:
    """A header value as a short scalar: Erlang char lists and bytes become text, an
    Erlang IP tuple such as ``{127,0,0,1}`` a dotted address."""
    if isinstance(value, list) and all(isinstance(v, int) and 0 <= v < 256 for v in value):
        value = bytes(value)
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, list):
        return [_text(v) for v in value if isinstance(v, str | bytes | int)][:16]
    if isinstance(value, str):
        parts = value.strip("{}").split(",")
        if value.startswith("{") and len(parts) == 4 and all(p.isdigit() for p in parts):
            return ".".join(parts)
        if value.startswith("{") and len(parts) == 8 and all(p.isdigit() for p in parts):
            return ":".join(f"{int(p):x}" for p in parts)
        return value[:MAX_TEXT]
    return value if isinstance(value, bool | int | float) else None


def broker_event(routing_key: str, headers: dict[str, Any]) -> dict[str, Any]:
    """The audit event for one message of the event exchange; see the module docstring."""
    millis = headers.get("timestamp_in_ms")
    when = datetime.fromtimestamp(millis / 1000, UTC) if isinstance(millis, int) else None
    event: dict[str, Any] = {
        "id": "",
        "time": (when or datetime.now(UTC)).isoformat(timespec="milliseconds")[:23] + "Z",
        "kind": "broker." + routing_key.replace(".", "-"),
        "source": "rabbitmq",
    }
    for header, member in COPIED.items():
        if header in headers and (value := _text(headers[header])) not in (None, "", []):
            event[member] = value
    name = _text(headers.get("name"))
    if isinstance(name, str) and name:
        # the user of user.* and of a failed login; the connection of connection.*
        event["connection" if routing_key.startswith("connection.") else "user"] = name
    # the same broker event redelivered gets the same id, so it is stored once
    event["id"] = hashlib.sha256(sorted_json([routing_key, event])).hexdigest()[:32]
    return event


class BrokerEvents:
    """Stores the broker's security events; run it beside the sink (``splp audit sink``)."""

    def __init__(
        self,
        store: AuditStore,
        broker_url: str | Sequence[str],
        *,
        queue: str = QUEUE,
        queue_arguments: dict[str, Any] | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.store = store
        self.queue = queue
        self.queue_arguments = queue_arguments
        self.stored = 0
        self._pending: list[tuple[AbstractChannel, int, Screened]] = []
        self._wakeup = asyncio.Event()
        self._connection = BrokerConnection(
            broker_url, name="splp-audit-broker-events", on_ready=self._attach, settings=settings
        )

    async def run(self, stop: asyncio.Event) -> None:
        await self._connection.start()
        try:
            while not (stop.is_set() and not self._pending):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), 1.0)
                self._wakeup.clear()
                await asyncio.sleep(LINGER)
                if self._pending:
                    await self._commit()
                if stop.is_set() and not self._pending:
                    break
        finally:
            await self._connection.close()

    async def _attach(self, connection: AbstractConnection) -> None:
        channel = await connection.channel()
        try:
            await channel.exchange_declare(EVENT_EXCHANGE, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            log.warning(
                "%s does not exist (is rabbitmq_event_exchange enabled, for this vhost?): "
                "broker events are not recorded",
                EVENT_EXCHANGE,
            )
            return
        channel = await connection.channel()
        await channel.queue_declare(self.queue, durable=True, arguments=self.queue_arguments)
        for key in ROUTING_KEYS:
            await channel.queue_bind(self.queue, EVENT_EXCHANGE, routing_key=key)
        await channel.basic_qos(prefetch_count=500)
        await channel.basic_consume(self.queue, self._on_message, no_ack=False)
        log.info("recording broker events from %s", EVENT_EXCHANGE)

    async def _on_message(self, message: DeliveredMessage) -> None:
        delivery = message.delivery
        assert isinstance(delivery, aiormq.spec.Basic.Deliver)
        headers = dict(message.header.properties.headers or {})
        event = screen(broker_event(delivery.routing_key or "", headers))
        self._pending.append((message.channel, delivery.delivery_tag or 0, event))
        self._wakeup.set()

    async def _commit(self) -> None:
        taken, self._pending = self._pending, []
        self.stored += await retry_until_done(
            lambda: self.store.append(event for _c, _t, event in taken),
            on=(SQLAlchemyError, OSError),
            what="storing broker events",
            initial=RETRY_SECONDS[0],
            maximum=RETRY_SECONDS[1],
            logger=log,
        )
        channel, tag = taken[-1][0], taken[-1][1]
        if not channel.is_closed:
            with contextlib.suppress(aiormq.exceptions.AMQPError, ConnectionError, RuntimeError):
                await channel.basic_ack(tag, multiple=True)
