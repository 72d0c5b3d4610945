"""Links between regencies: the names of a link and the shovels that carry it (docs/federation.md).

Each regency runs its own broker and directory. A *partner* is another regency (or the
province, or the national level) known to this directory as a party with the role
``partner``; its broker user ``<prefix><partner>`` is the **link user** that the partner's
shovels log in as. On each broker a link to partner ``P`` has

* ``splp.link.P.out`` (topic exchange) and queue ``splp.link.P.out``: calls from this
  regency's requesters to ``P``, with routing key ``<party>.<publisher>.<service>.v<major>.<op>``;
  a requester may publish there only with its own name first (a topic permission), so the
  origin party is checked by the sending broker;
* ``splp.link.P.in`` (topic exchange): calls from ``P``'s parties, which only the link user
  may publish to; every service queue is bound to it with ``*.<publisher>.<service>.v<major>.*``;
* ``splp.link.P.replies`` (fanout exchange) and queue: replies to ``P``'s requesters.

Two shovels (RabbitMQ's shovel plugin) on the sending broker move calls from
``splp.link.P.out`` to ``splp.link.<me>.in`` on ``P``'s broker and replies from
``splp.link.P.replies`` to ``P``'s default exchange, where their routing key (the caller's
direct reply-to address) finds the caller. The call shovel sets ``user_id`` to the link
user, which ``P``'s broker validates; ``P``'s adapters trust the routing key's first
segment (the origin party) only on ``splp.link.<me>.in`` and only from that user, and
check the grants of the party ``<me>--<party>`` (:func:`remote_party`) in ``P``'s directory.

>>> from splp.bus.names import ServiceRef
>>> outbound_key("dinsos", ServiceRef("dukcapil", "penduduk", 1), "get-by-nik")
'dinsos.dukcapil.penduduk.v1.get-by-nik'
>>> inbound_call("splp.link.kab-a.in", "dinsos.dukcapil.penduduk.v1.get-by-nik", "b-kab-a", "b-")
InboundCall(partner='kab-a', party='kab-a--dinsos', routing_key='dukcapil.penduduk.v1.get-by-nik')
>>> inbound_call("splp.link.kab-a.in", "dinsos.dukcapil.penduduk.v1.get-by-nik", "b-kab-c", "b-")
>>> remote_party("kab-a", "dinsos"), partner_of_remote("kab-a--dinsos", {"kab-a"})
('kab-a--dinsos', 'kab-a')
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from splp.bus.management import Management
from splp.bus.names import SEGMENT, ServiceRef, check_segment, routing_key_for
from splp.errors import ContractError

LINK_PREFIX = "splp.link."
REMOTE_SEPARATOR = "--"
"""Between the partner and the party in the name of a partner's party: ``kab-a--dinsos``."""
VIA_LINK = "link"
SHOVEL_PREFIX = "splp-link-"


def link_out(partner: str) -> str:
    """Exchange and queue of this regency's calls to ``partner``."""
    return f"{LINK_PREFIX}{check_segment(partner, 'partner')}.out"


def link_in(partner: str) -> str:
    """Exchange of ``partner``'s calls to this regency."""
    return f"{LINK_PREFIX}{check_segment(partner, 'partner')}.in"


def link_replies(partner: str) -> str:
    """Exchange and queue of this regency's replies to ``partner``'s requesters."""
    return f"{LINK_PREFIX}{check_segment(partner, 'partner')}.replies"


def remote_party(partner: str, party: str) -> str:
    """The name this directory gives ``party`` of ``partner``."""
    return check_segment(f"{partner}{REMOTE_SEPARATOR}{party}", "party name")


def partner_of_remote(party: str, partners: Collection[str]) -> str | None:
    """The partner whose party ``party`` is, or ``None`` for a party of this regency."""
    head, sep, _ = party.partition(REMOTE_SEPARATOR)
    return head if sep and head in partners else None


def outbound_key(party: str, service: ServiceRef, operation: str) -> str:
    """The routing key of ``party``'s call to ``service`` of a partner."""
    return f"{check_segment(party, 'party')}.{routing_key_for(service, operation)}"


def partner_of_exchange(exchange: str) -> str | None:
    """The partner of ``splp.link.<partner>.in``, else ``None``."""
    if not (exchange.startswith(LINK_PREFIX) and exchange.endswith(".in")):
        return None
    partner = exchange[len(LINK_PREFIX) : -len(".in")]
    return partner if SEGMENT.fullmatch(partner) else None


@dataclass(frozen=True, slots=True)
class InboundCall:
    """A call that came over the link of ``partner``, from its party ``party`` (named as
    this directory names it), for ``routing_key`` on this bus."""

    partner: str
    party: str
    routing_key: str


def inbound_call(
    exchange: str, routing_key: str, user_id: str | None, user_prefix: str
) -> InboundCall | None:
    """The call behind a delivery from ``splp.link.<partner>.in``, or ``None`` when it did not
    come from that partner's link user (so its origin cannot be trusted)."""
    partner = partner_of_exchange(exchange)
    if partner is None or user_id != user_prefix + partner:
        return None
    party, _, key = routing_key.partition(".")
    if not SEGMENT.fullmatch(party) or not key:
        return None
    try:
        return InboundCall(partner, remote_party(partner, party), key)
    except ContractError:
        return None


def link_shovels(partner: str, me: str, partner_url: str, vhost: str) -> dict[str, dict[str, Any]]:
    """The two shovels (name -> value of the ``shovel`` parameter) of the link to ``partner``.

    ``partner_url`` is ``amqp://<link user>:<password>@host:port/<vhost>`` of the partner's
    broker, where the link user is the partner's user for this regency, named ``me`` in
    the partner's directory.
    """
    check_segment(me, "this regency's name at the partner")
    parts = urlsplit(partner_url)
    if parts.scheme not in ("amqp", "amqps") or not parts.username or not parts.hostname:
        raise ContractError("the partner's URL must be amqp[s]://<link user>:<password>@host/vhost")
    local = f"amqp:///{quote(vhost, safe='')}"
    common = {
        "src-protocol": "amqp091",
        "src-uri": local,
        "dest-protocol": "amqp091",
        "dest-uri": partner_url,
        "ack-mode": "on-confirm",
        "reconnect-delay": 1,
    }
    return {
        f"{SHOVEL_PREFIX}{partner}-calls": {
            **common,
            "src-queue": link_out(partner),
            "dest-exchange": link_in(me),
            "dest-publish-properties": {"user_id": unquote(parts.username)},
        },
        f"{SHOVEL_PREFIX}{partner}-replies": {
            **common,
            "src-queue": link_replies(partner),
            "dest-exchange": "",
        },
    }


async def open_link(
    management: Management, vhost: str, partner: str, me: str, partner_url: str
) -> list[str]:
    """Create (or replace) the shovels of the link to ``partner`` on this broker; their names.

    The directory's reconciler keeps the link's exchanges, queues and users once
    ``partner`` is a party with the role ``partner``; the shovels hold the partner's
    password, so they live in the broker only (``splp link add``).
    """
    shovels = link_shovels(partner, me, partner_url, vhost)
    for name, value in shovels.items():
        await management.request(
            "PUT", f"/api/parameters/shovel/{_q(vhost)}/{_q(name)}", json={"value": value}
        )
    return sorted(shovels)


async def close_link(management: Management, vhost: str, partner: str) -> list[str]:
    """Delete the shovels of the link to ``partner``; the names of those that existed."""
    closed = []
    for name in link_shovels(partner, partner, "amqp://link@localhost/", vhost):
        path = f"/api/parameters/shovel/{_q(vhost)}/{_q(name)}"
        if await management.read(path) is not None:
            await management.request("DELETE", path)
            closed.append(name)
    return closed


async def links(management: Management, vhost: str) -> list[dict[str, Any]]:
    """The link shovels of ``vhost`` and their state (``running``, ``starting``, ...)."""
    status = await management.read(f"/api/shovels/{_q(vhost)}") or []
    return sorted(
        (
            {"name": s["name"], "state": s.get("state", "unknown"), "dest": s.get("dest_uri")}
            for s in status
            if str(s.get("name", "")).startswith(SHOVEL_PREFIX)
        ),
        key=lambda s: s["name"],
    )


def _q(name: str) -> str:
    return quote(name, safe="")
