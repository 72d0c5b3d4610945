"""The difference between desired and actual broker state: only the changes to make.

:func:`plan` never proposes touching an unmanaged user, never deletes an exchange or a
queue (messages would be lost: those are reported instead), and marks every user whose
rights shrink, so the reconciler can close its connections (RabbitMQ caches permission
checks per channel, so a narrowed permission alone does not stop an open channel).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from splp.bus.names import THEME_EXCHANGE_PREFIX
from splp.bus.topology import BindingSpec, ExchangeSpec, QueueSpec
from splp.directory_service.broker.patterns import narrows, parse_alternation
from splp.directory_service.broker.state import BrokerState, Permission, TopicPermission, User


@dataclass
class Plan:
    """Changes to apply, in the order the reconciler applies them, and what they repair."""

    create_vhost: bool = False
    exchanges: list[ExchangeSpec] = field(default_factory=list)
    queues: list[QueueSpec] = field(default_factory=list)
    bindings: list[BindingSpec] = field(default_factory=list)
    users: dict[str, User] = field(default_factory=dict)
    topic_permissions: dict[tuple[str, str], TopicPermission] = field(default_factory=dict)
    permissions: dict[str, Permission] = field(default_factory=dict)
    delete_topic_permissions: list[tuple[str, str]] = field(default_factory=list)
    delete_permissions: list[str] = field(default_factory=list)
    delete_users: list[str] = field(default_factory=list)
    delete_bindings: list[tuple[BindingSpec, str]] = field(default_factory=list)
    close: set[str] = field(default_factory=set)
    changes: list[str] = field(default_factory=list)
    """One line per change, for the drift report (never a password or hash)."""
    problems: list[str] = field(default_factory=list)
    """What the reconciler will not repair by itself: conflicts and refused names."""

    @property
    def empty(self) -> bool:
        return not self.changes


def _could_write(permission: Permission | None, exchange: str) -> bool:
    if permission is None:
        return False
    pieces = parse_alternation(permission.write)
    return pieces is None or re.escape(exchange) in pieces


def plan(desired: BrokerState, actual: BrokerState) -> Plan:
    """What to change so that ``actual`` becomes ``desired``."""
    p = Plan(problems=list(desired.refused))
    if not actual.vhost_exists:
        p.create_vhost = True
        p.changes.append("vhost: created")
    _topology(p, desired, actual)
    conflicted = desired.users.keys() & actual.unmanaged
    for name in sorted(conflicted):
        p.problems.append(f"user {name}: exists on the broker but is not managed by SPLP")
    for name, user in desired.users.items():
        if name in conflicted:
            continue
        current = actual.users.get(name)
        if current is None:
            p.users[name] = user
            p.changes.append(f"user {name}: created")
        elif current != user:
            p.users[name] = user
            if current.password_hash != user.password_hash:
                p.close.add(name)
                p.changes.append(f"user {name}: password replaced")
            else:
                p.changes.append(f"user {name}: tags set")
    for key, topic in desired.topic_permissions.items():
        old = actual.topic_permissions.get(key)
        if key[0] in conflicted or old == topic:
            continue
        p.topic_permissions[key] = topic
        p.changes.append(f"topic permission {key[0]} on {key[1]}: set")
        if old is None:
            if _could_write(actual.permissions.get(key[0]), key[1]):
                p.close.add(key[0])
        elif narrows(old.write, topic.write) or narrows(old.read, topic.read):
            p.close.add(key[0])
    for name, permission in desired.permissions.items():
        old_permission = actual.permissions.get(name)
        if name in conflicted or old_permission == permission:
            continue
        p.permissions[name] = permission
        p.changes.append(f"permission {name}: set")
        before = old_permission or Permission()
        if any(
            narrows(getattr(before, kind), getattr(permission, kind))
            for kind in ("configure", "write", "read")
        ):
            p.close.add(name)
    for key in sorted(actual.topic_permissions.keys() - desired.topic_permissions.keys()):
        p.delete_topic_permissions.append(key)
        p.changes.append(f"topic permission {key[0]} on {key[1]}: removed")
    for name in sorted(actual.permissions.keys() - desired.permissions.keys()):
        p.delete_permissions.append(name)
        p.close.add(name)
        p.changes.append(f"permission {name}: removed")
    for name in sorted(actual.users.keys() - desired.users.keys()):
        p.delete_users.append(name)
        p.close.add(name)
        p.changes.append(f"user {name}: deleted")
    return p


def _topology(p: Plan, desired: BrokerState, actual: BrokerState) -> None:
    for name, exchange in desired.exchanges.items():
        current = actual.exchanges.get(name)
        if current is None:
            p.exchanges.append(exchange)
            p.changes.append(f"exchange {name}: declared")
        elif (current.type, current.durable) != (exchange.type, exchange.durable):
            p.problems.append(f"exchange {name}: is {current.type}, not a durable {exchange.type}")
    for name, queue in desired.queues.items():
        existing = actual.queues.get(name)
        if existing is None:
            p.queues.append(queue)
            p.changes.append(f"queue {name}: declared")
        elif existing.arguments != queue.arguments or not existing.durable:
            p.problems.append(f"queue {name}: declared with other arguments; delete it to repair")
    for binding in desired.bindings:
        if binding not in actual.bindings:
            p.bindings.append(binding)
            p.changes.append(f"binding {binding.exchange} -> {binding.queue}: declared")
    for binding, key in actual.bindings.items():
        # a stray binding on a theme exchange copies requests (personal data) elsewhere
        if binding.exchange.startswith(THEME_EXCHANGE_PREFIX) and binding not in desired.bindings:
            p.delete_bindings.append((binding, key))
            p.changes.append(
                f"binding {binding.exchange} -> {binding.queue} ({binding.routing_key}): removed"
            )
    p.bindings.sort(key=lambda b: (b.exchange, b.queue))
