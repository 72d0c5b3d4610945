"""The actual broker state, read in bulk: a handful of GETs whatever the number of parties.

``/api/users`` (global; filtered to the users this directory manages), the vhost's
permissions and topic permissions, and its exchanges, queues and bindings.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from splp.bus.management import Management
from splp.bus.topology import BindingSpec, ExchangeSpec, QueueSpec
from splp.directory_service.broker.desired import BrokerNames
from splp.directory_service.broker.state import (
    BrokerState,
    Permission,
    TopicPermission,
    User,
    vhost_tag,
)


def user_tags(value: Any) -> frozenset[str]:
    """User tags: a list on RabbitMQ 3.9 and later, a comma-separated string before."""
    if isinstance(value, str):
        return frozenset(t.strip() for t in value.split(",") if t.strip())
    return frozenset(str(t) for t in value or ())


async def read_actual(management: Management, names: BrokerNames) -> BrokerState:
    """What the broker holds now for the vhost and the users of ``names``."""
    vhost = quote(names.vhost, safe="")
    state = BrokerState()
    for user in await management.read("/api/users") or []:
        tags = user_tags(user.get("tags"))
        if vhost_tag(names.vhost) in tags and user["name"].startswith(names.user_prefix):
            state.users[user["name"]] = User(user.get("password_hash") or "", tags)
        else:
            state.unmanaged.add(user["name"])
    if await management.read(f"/api/vhosts/{vhost}") is None:
        state.vhost_exists = False
        return state
    for p in await management.read(f"/api/vhosts/{vhost}/permissions") or []:
        if p["user"] in state.users:
            state.permissions[p["user"]] = Permission(p["configure"], p["write"], p["read"])
    for p in await management.read(f"/api/vhosts/{vhost}/topic-permissions") or []:
        if p["user"] in state.users:
            state.topic_permissions[p["user"], p["exchange"]] = TopicPermission(
                p["write"], p["read"]
            )
    exchanges = await management.read(f"/api/exchanges/{vhost}", columns="name,type,durable")
    for e in exchanges or []:
        if e["name"] and not e["name"].startswith("amq."):
            state.exchanges[e["name"]] = ExchangeSpec(e["name"], e["type"], bool(e["durable"]))
    queues = await management.read(
        f"/api/queues/{vhost}", columns="name,durable,arguments", disable_stats="true"
    )
    for q in queues or []:
        state.queues[q["name"]] = QueueSpec(q["name"], dict(q.get("arguments") or {}), q["durable"])
    for b in await management.read(f"/api/bindings/{vhost}") or []:
        if b["source"] and b["destination_type"] == "queue":
            spec = BindingSpec(b["source"], b["destination"], b["routing_key"])
            state.bindings[spec] = b["properties_key"]
    return state
