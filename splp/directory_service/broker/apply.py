"""Carrying out a :class:`~splp.directory_service.broker.plan.Plan` through the management API.

Upserts go in batches (definition imports), deletions one by one. The order never opens a
window wider than either the old or the new state: topic permissions are set before the
vhost permissions that let a user reach their exchange, and removed only after.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from splp.bus.management import Management
from splp.directory_service.broker.passwords import HASHING_ALGORITHM
from splp.directory_service.broker.plan import Plan

BATCH = 1000


def _q(name: str) -> str:
    return quote(name, safe="")


def _batches(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


async def apply_plan(management: Management, vhost: str, plan: Plan) -> None:
    """Make the changes of ``plan``, then close the connections of users whose rights shrank."""
    if plan.create_vhost:
        await management.ensure_vhost(vhost)
    if plan.exchanges or plan.queues or plan.bindings:
        await management.import_definitions(
            {
                "exchanges": [
                    {**asdict(e), "auto_delete": False, "internal": False, "arguments": {}}
                    for e in plan.exchanges
                ],
                "queues": [{**asdict(q), "auto_delete": False} for q in plan.queues],
                "bindings": [
                    {
                        "source": b.exchange,
                        "destination": b.queue,
                        "destination_type": "queue",
                        "routing_key": b.routing_key,
                        "arguments": {},
                    }
                    for b in plan.bindings
                ],
            },
            vhost,
        )
    users = [
        {
            "name": name,
            "password_hash": user.password_hash,
            "hashing_algorithm": HASHING_ALGORITHM,
            "tags": sorted(user.tags),
        }
        for name, user in plan.users.items()
    ]
    topics = [
        {"user": user, "vhost": vhost, "exchange": exchange, **asdict(topic)}
        for (user, exchange), topic in plan.topic_permissions.items()
    ]
    for batch in _batches(users):
        await management.import_definitions({"users": batch})
    for batch in _batches(topics):
        await management.import_definitions({"topic_permissions": batch})
    permissions = [
        {"user": user, "vhost": vhost, **asdict(permission)}
        for user, permission in plan.permissions.items()
    ]
    for batch in _batches(permissions):
        await management.import_definitions({"permissions": batch})
    for user, exchange in plan.delete_topic_permissions:
        await management.request(
            "DELETE", f"/api/topic-permissions/{_q(vhost)}/{_q(user)}/{_q(exchange)}"
        )
    for user in plan.delete_permissions:
        await management.request("DELETE", f"/api/permissions/{_q(vhost)}/{_q(user)}")
    if plan.delete_users:
        await management.request(
            "POST", "/api/users/bulk-delete", json={"users": plan.delete_users}
        )
    for binding, properties_key in plan.delete_bindings:
        await management.request(
            "DELETE",
            f"/api/bindings/{_q(vhost)}/e/{_q(binding.exchange)}/q/{_q(binding.queue)}/"
            + _q(properties_key),
        )
    await management.close_connections_of(plan.close)
