"""The bus topology, declared from one place.

:func:`topology_for` turns themes and services into plain specs (exchanges, queues,
bindings); :func:`declare` applies them over AMQP. The broker reconciler drives the
same specs through the management API, so the two can never disagree on a name or an
argument.

>>> t = topology_for([ServiceBinding("kependudukan", ServiceRef("dukcapil", "penduduk", 1))])
>>> [e.name for e in t.exchanges]
['splp.audit', 'splp.dlx', 'splp.theme.kependudukan']
>>> [(b.exchange, b.queue, b.routing_key) for b in t.bindings][-1]
('splp.theme.kependudukan', 'splp.svc.dukcapil.penduduk.v1', 'dukcapil.penduduk.v1.*')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiormq.abc import AbstractChannel

from splp.bus.names import (
    AUDIT_EXCHANGE,
    AUDIT_SINK_QUEUE,
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    ServiceRef,
    binding_key_for,
    check_segment,
    queue_for,
    theme_exchange,
)

QueueType = Literal["classic", "quorum"]
DEAD_LETTER_TTL_MS = 10 * 60 * 1000
"""Default of ``Settings.dead_letter_ttl`` (600 s): dead letters may hold personal data."""
DEAD_LETTER_MAX = 100_000


@dataclass(frozen=True, slots=True)
class ServiceBinding:
    """A service at one major version, placed in a theme."""

    theme: str
    service: ServiceRef

    def __post_init__(self) -> None:
        check_segment(self.theme, "theme")


@dataclass(frozen=True, slots=True)
class ExchangeSpec:
    name: str
    type: str = "topic"
    durable: bool = True


@dataclass(frozen=True, slots=True)
class QueueSpec:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict, hash=False)
    durable: bool = True


@dataclass(frozen=True, slots=True)
class BindingSpec:
    exchange: str
    queue: str
    routing_key: str


@dataclass(frozen=True, slots=True)
class Topology:
    exchanges: tuple[ExchangeSpec, ...]
    queues: tuple[QueueSpec, ...]
    bindings: tuple[BindingSpec, ...]


def topology_for(
    services: Iterable[ServiceBinding],
    themes: Iterable[str] = (),
    *,
    queue_type: QueueType = "classic",
    dead_letter_ttl_ms: int = DEAD_LETTER_TTL_MS,
) -> Topology:
    """The desired topology for ``services`` (and any extra, still empty, ``themes``).

    Service queues dead-letter to ``splp.dlx``: requests that expired in the queue or that
    an adapter could not answer land in ``splp.dead-letters``, kept for
    ``dead_letter_ttl_ms`` (``SPLP_DEAD_LETTER_TTL``, ten minutes by default) so that
    personal data in them does not linger; no SPLP component logs their bodies. Every audit
    message is kept in ``splp.audit.sink`` until the audit sink has stored it.
    """
    services = sorted(set(services), key=lambda b: (b.theme, str(b.service)))
    all_themes = sorted({check_segment(t, "theme") for t in themes} | {b.theme for b in services})
    exchanges = [ExchangeSpec(AUDIT_EXCHANGE), ExchangeSpec(DEAD_LETTER_EXCHANGE)]
    exchanges += [ExchangeSpec(theme_exchange(t)) for t in all_themes]
    queues = [
        QueueSpec(
            DEAD_LETTER_QUEUE,
            {
                "x-queue-type": queue_type,
                "x-message-ttl": dead_letter_ttl_ms,
                "x-max-length": DEAD_LETTER_MAX,
            },
        )
    ]
    queues.append(QueueSpec(AUDIT_SINK_QUEUE, {"x-queue-type": queue_type}))
    bindings = [
        BindingSpec(DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE, "#"),
        BindingSpec(AUDIT_EXCHANGE, AUDIT_SINK_QUEUE, "#"),
    ]
    for b in services:
        queue = queue_for(b.service)
        queues.append(
            QueueSpec(
                queue, {"x-queue-type": queue_type, "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE}
            )
        )
        bindings.append(BindingSpec(theme_exchange(b.theme), queue, binding_key_for(b.service)))
    return Topology(tuple(exchanges), tuple(queues), tuple(bindings))


async def declare(channel: AbstractChannel, topology: Topology) -> None:
    """Declare ``topology`` on ``channel`` (needs configure permission; idempotent)."""
    for exchange in topology.exchanges:
        await channel.exchange_declare(
            exchange.name, exchange_type=exchange.type, durable=exchange.durable
        )
    for queue in topology.queues:
        await channel.queue_declare(queue.name, durable=queue.durable, arguments=queue.arguments)
    for binding in topology.bindings:
        await channel.queue_bind(binding.queue, binding.exchange, routing_key=binding.routing_key)
