"""The desired broker state, read from the store in a few bulk queries (DESIGN section 4).

* every party has a broker user ``<prefix><party>`` with its stored password hash;
* a **requester** may write only to the theme exchanges where it holds grants in force,
  and on each of them a topic permission admits exactly its granted routing keys;
* a **publisher** may read only its own service queues and write only what its adapter
  needs: replies through the default exchange (``amq.default``) and audit events to
  ``splp.audit``, whose topic permission admits only events naming that publisher;
* nobody may configure anything: the reconciler declares the topology itself;
* with a gateway secret (``SPLP_GATEWAY_SECRET``), every requester also has a **gateway
  user** ``<prefix><party>@gateway`` (:mod:`splp.bus.gateway_identity`) holding exactly its
  requester permissions, whose password both the gateway and the directory derive from
  the secret; the store keeps nothing of it;
* a **partner** (another regency, docs/federation.md) has a link user ``<prefix><partner>``
  that may write only its calls to ``splp.link.<partner>.in`` and replies to its
  requesters through the default exchange; every requester may publish to
  ``splp.link.<partner>.out`` with its own name as the first routing-key segment; a
  partner's party (``<partner>--<party>``) has no broker user: its calls come over the link.

A row whose names break the naming rules (possible only by writing to the database
directly, or restoring a doctored backup) is left out and reported, never escaped into
a working permission.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from splp.bus.federation import link_in, link_out, link_replies, partner_of_remote
from splp.bus.gateway_identity import derive, gateway_password, gateway_user
from splp.bus.names import (
    ANY_SEGMENT,
    AUDIT_EXCHANGE,
    ServiceRef,
    binding_key_for,
    check_segment,
    queue_for,
    theme_exchange,
)
from splp.bus.topology import (
    DEAD_LETTER_TTL_MS,
    BindingSpec,
    ExchangeSpec,
    QueueSpec,
    QueueType,
    ServiceBinding,
    topology_for,
)
from splp.db import utcnow
from splp.directory_service.broker.passwords import SALT_BYTES, password_hash
from splp.directory_service.broker.patterns import (
    alternation,
    exact,
    routing_key_pattern,
)
from splp.directory_service.broker.state import (
    BrokerState,
    Permission,
    TopicPermission,
    User,
    managed_tags,
)
from splp.directory_service.models import (
    AccessRequest,
    Party,
    Service,
    ServiceVersion,
    Theme,
)
from splp.errors import ContractError

DEFAULT_EXCHANGE = "amq.default"
"""The name RabbitMQ checks write permission on for the default (``""``) exchange."""


@dataclass(frozen=True, slots=True)
class BrokerNames:
    vhost: str
    user_prefix: str = ""
    queue_type: QueueType = "classic"
    dead_letter_ttl_ms: int = DEAD_LETTER_TTL_MS
    gateway_secret: bytes | None = field(default=None, repr=False)
    """The HTTP gateway's secret; ``None``: no gateway users."""

    def user(self, party: str) -> str:
        return self.user_prefix + party

    def gateway_user(self, party: str) -> str:
        return gateway_user(party, self.user_prefix)

    def gateway_password_hash(self, user: str) -> str:
        """RabbitMQ's salted hash of the gateway user's derived password.

        The salt is derived too, so the hash is the same on every run: a reconcile with
        nothing to change changes nothing, and a new secret replaces the hash (and closes
        the user's connections).
        """
        assert self.gateway_secret is not None
        salt = derive(self.gateway_secret, "broker-salt:" + user)[:SALT_BYTES]
        return password_hash(gateway_password(self.gateway_secret, user), salt=salt)


def audit_pattern(publisher: str) -> str:
    """Audit routing keys ``<kind>.<theme>.<publisher>.<service>`` naming ``publisher``."""
    segment = ANY_SEGMENT
    return f"^{segment}\\.{segment}\\.{re.escape(publisher)}\\.{segment}$"


async def desired_state(session: AsyncSession, names: BrokerNames) -> BrokerState:
    """What the broker should hold for the store behind ``session``."""
    state = BrokerState()
    parties: dict[int, Party] = {}
    for party in (await session.scalars(select(Party).order_by(Party.id))).all():
        try:
            check_segment(party.name, "party name")
        except ContractError as exc:
            state.refused.append(str(exc))
            continue
        parties[party.id] = party
    services, themes = await _services(session, state, parties)
    topology = topology_for(
        services.values(),
        themes,
        queue_type=names.queue_type,
        dead_letter_ttl_ms=names.dead_letter_ttl_ms,
    )
    state.exchanges = {e.name: e for e in topology.exchanges}
    state.queues = {q.name: q for q in topology.queues}
    state.bindings = {b: "" for b in topology.bindings}

    granted = await _granted_keys(session, state, parties, services)
    queues_of: dict[int, set[str]] = defaultdict(set)
    for (publisher_id, _service_id, _major), binding in services.items():
        queues_of[publisher_id].add(queue_for(binding.service))
    tags = frozenset(managed_tags(names.vhost))
    partners = sorted(p.name for p in parties.values() if "partner" in p.roles)
    _links(state, partners, services.values(), names.queue_type)
    for party in parties.values():
        if partner_of_remote(party.name, partners) is not None:
            continue
        user = names.user(party.name)
        state.users[user] = User(party.broker_password_hash or "", tags)
        writes: set[str] = set()
        reads: set[str] = set()
        if "partner" in party.roles:
            writes |= {link_in(party.name), DEFAULT_EXCHANGE}
        if "requester" in party.roles:
            topics = {
                exchange: TopicPermission(alternation(pieces))
                for exchange, pieces in granted.get(party.id, {}).items()
            }
            writes |= topics.keys()
            for exchange, topic in topics.items():
                state.topic_permissions[user, exchange] = topic
            own_calls = TopicPermission(f"^{re.escape(party.name)}\\.{ANY_SEGMENT}\\.")
            for partner in partners:
                writes.add(link_out(partner))
                state.topic_permissions[user, link_out(partner)] = own_calls
            if names.gateway_secret is not None:
                _gateway_user(state, names, party.name, tags, topics)
        if "publisher" in party.roles:
            writes |= {DEFAULT_EXCHANGE, AUDIT_EXCHANGE}
            writes |= {link_replies(partner) for partner in partners}
            reads |= queues_of.get(party.id, set())
            state.topic_permissions[user, AUDIT_EXCHANGE] = TopicPermission(
                audit_pattern(party.name)
            )
        if {"requester", "publisher", "partner"} & set(party.roles):
            state.permissions[user] = Permission(write=exact(writes), read=exact(reads))
    return state


def _links(
    state: BrokerState,
    partners: list[str],
    services: Iterable[ServiceBinding],
    queue_type: QueueType,
) -> None:
    """The exchanges, queues and bindings of the links to ``partners``."""
    for partner in partners:
        out, inbound, replies = link_out(partner), link_in(partner), link_replies(partner)
        state.exchanges[out] = ExchangeSpec(out)
        state.exchanges[inbound] = ExchangeSpec(inbound)
        state.exchanges[replies] = ExchangeSpec(replies, type="fanout")
        for queue, exchange in ((out, out), (replies, replies)):
            state.queues[queue] = QueueSpec(queue, {"x-queue-type": queue_type})
            state.bindings[BindingSpec(exchange, queue, "#")] = ""
        for binding in services:
            key = "*." + binding_key_for(binding.service)
            state.bindings[BindingSpec(inbound, queue_for(binding.service), key)] = ""


def _gateway_user(
    state: BrokerState,
    names: BrokerNames,
    party: str,
    tags: frozenset[str],
    topics: dict[str, TopicPermission],
) -> None:
    """The gateway user of requester ``party``: its requester permissions, nothing more."""
    user = names.gateway_user(party)
    state.users[user] = User(names.gateway_password_hash(user), tags)
    state.permissions[user] = Permission(write=exact(set(topics)), read=exact(set()))
    for exchange, topic in topics.items():
        state.topic_permissions[user, exchange] = topic


async def _services(
    session: AsyncSession, state: BrokerState, parties: dict[int, Party]
) -> tuple[dict[tuple[int, int, int], ServiceBinding], list[str]]:
    """(publisher id, service id, major) -> binding, and every theme's name."""
    themes = []
    for name in (await session.scalars(select(Theme.name))).all():
        try:
            themes.append(check_segment(name, "theme"))
        except ContractError as exc:
            state.refused.append(str(exc))
    rows = await session.execute(
        select(Service.publisher_id, Service.id, Service.name, ServiceVersion.major, Theme.name)
        .join(ServiceVersion, ServiceVersion.service_id == Service.id)
        .join(Theme, Theme.id == ServiceVersion.theme_id)
        .distinct()
    )
    services: dict[tuple[int, int, int], ServiceBinding] = {}
    for publisher_id, service_id, service, major, theme in rows.all():
        publisher = parties.get(publisher_id)
        if publisher is None:
            continue
        try:
            binding = ServiceBinding(theme, ServiceRef(publisher.name, service, major))
        except ContractError as exc:
            state.refused.append(f"service {publisher.name}/{service!r}: {exc}")
            continue
        services[publisher_id, service_id, major] = binding
    return services, themes


async def _granted_keys(
    session: AsyncSession,
    state: BrokerState,
    parties: dict[int, Party],
    services: dict[tuple[int, int, int], ServiceBinding],
) -> dict[int, dict[str, set[str]]]:
    """requester id -> theme exchange -> routing-key regex pieces of its grants in force."""
    by_service = {(sid, major): b for (_pid, sid, major), b in services.items()}
    rows = await session.scalars(select(AccessRequest).where(AccessRequest.state == "granted"))
    now = utcnow()
    granted: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for grant in rows.all():
        binding = by_service.get((grant.service_id, grant.major))
        if grant.requester_id not in parties or binding is None:
            continue
        if grant.expires_at is not None and grant.expires_at <= now:
            continue
        operations = grant.operations
        try:
            if operations is not None and not isinstance(operations, list):
                raise ContractError(f"operations must be a list, not {type(operations).__name__}")
            pieces = routing_key_pattern(binding.service, operations)
        except ContractError as exc:
            state.refused.append(f"grant {grant.id}: {exc}")
            continue
        granted[grant.requester_id][theme_exchange(binding.theme)].update(pieces)
    return granted


async def next_expiry(session: AsyncSession) -> datetime | None:
    """When the earliest grant in force expires (the desired state changes then)."""
    return await session.scalar(
        select(func.min(AccessRequest.expires_at)).where(
            AccessRequest.state == "granted", AccessRequest.expires_at > utcnow()
        )
    )
