"""Following the audit trail: the latest records, and live events from ``splp.audit``.

A live tail binds an exclusive, auto-delete queue of its own to ``splp.audit``, so it
sees every event from the moment it starts, takes nothing from the sink's queue, and
leaves nothing behind when it stops. It consumes with a prefetch of
:data:`TAIL_PREFETCH` and acks each message once its events are handed on.

>>> line({"time": "2026-01-02T03:04:05.000Z", "kind": "response", "publisher": "dukcapil",
...       "service": "penduduk", "major": 1, "operation": "get-by-nik",
...       "requester": "dinsos", "status": 200, "duration_ms": 3.5})
'2026-01-02T03:04:05.000Z response dukcapil.penduduk.v1 get-by-nik dinsos 200 3.5ms'
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiormq.abc import DeliveredMessage
from yarl import URL

from splp.audit.query import Filters
from splp.bus.audit_events import decode_audit_message
from splp.bus.connection import open_amqp
from splp.bus.names import AUDIT_EXCHANGE
from splp.errors import ContractError
from splp.log import get_logger
from splp.settings import Settings
from splp.tls import client_context

log = get_logger("audit.tail")

TAIL_PREFETCH = 50
"""Messages the broker sends a follower ahead of its reader: the backlog of a slow reader
(a terminal, a pipe) stays at the broker instead of growing in the follower's memory."""


def line(event: dict[str, Any]) -> str:
    """One event as one line of text: time, kind, service, operation, who, status, latency,
    and ``via gateway`` for a call that came through the HTTP gateway."""
    ref = (
        f"{event.get('publisher')}.{event.get('service')}.v{event.get('major')}"
        if event.get("service")
        else event.get("source", "-")
    )
    fields = [
        event.get("time", "-"),
        event.get("kind", "-"),
        ref,
        event.get("operation") or event.get("action") or "-",
        event.get("requester") or event.get("actor") or event.get("user") or "-",
        event.get("status", "-"),
    ]
    if event.get("duration_ms") is not None:
        fields.append(f"{event['duration_ms']}ms")
    if event.get("via"):
        fields.append(f"via {event['via']}")
    return " ".join(str(field) for field in fields)


async def follow(
    broker_url: str, filters: Filters, settings: Settings | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Every event published on ``splp.audit`` from now on that passes ``filters``.

    An ``amqps`` URL uses the TLS settings of ``settings`` (default: the environment's).
    """
    tls = client_context(settings or Settings()) if URL(broker_url).scheme == "amqps" else None
    connection = await open_amqp(URL(broker_url), tls)
    queue: asyncio.Queue[DeliveredMessage] = asyncio.Queue()

    async def on_message(message: DeliveredMessage) -> None:
        await queue.put(message)

    try:
        channel = await connection.channel()
        await channel.exchange_declare(AUDIT_EXCHANGE, exchange_type="topic", durable=True)
        declared = await channel.queue_declare("", exclusive=True, auto_delete=True)
        assert declared.queue is not None
        await channel.queue_bind(declared.queue, AUDIT_EXCHANGE, routing_key="#")
        await channel.basic_qos(prefetch_count=TAIL_PREFETCH)
        await channel.basic_consume(declared.queue, on_message, no_ack=False)
        log.info("following %s", AUDIT_EXCHANGE)
        while True:
            message = await queue.get()
            try:
                events = decode_audit_message(message.body)
            except (ContractError, ValueError):
                log.warning("skipped a message on %s that is not audit events", AUDIT_EXCHANGE)
                events = []
            for event in events:
                if filters.matches(event):
                    yield event
            assert message.delivery_tag is not None  # always set on a delivery
            await channel.basic_ack(message.delivery_tag)
    finally:
        await connection.close()
