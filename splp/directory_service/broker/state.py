"""Broker state as plain values: what the store wants, or what the broker has.

Both sides are a :class:`BrokerState`, so the reconciler's diff compares like with like.
Only users SPLP manages appear in ``users``, ``permissions`` and ``topic_permissions``:
a managed user carries the tag :func:`vhost_tag` of the bus's vhost and a name that starts
with the configured prefix. Everyone else (``guest``, operators' accounts, other
installations) is listed in ``unmanaged`` and never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from splp.bus.topology import BindingSpec, ExchangeSpec, QueueSpec
from splp.directory_service.broker.patterns import NOTHING

MANAGED_TAG = "splp"


def vhost_tag(vhost: str) -> str:
    """The tag that marks a broker user as managed by the directory of ``vhost``."""
    return f"{MANAGED_TAG}:{vhost}"


def managed_tags(vhost: str) -> tuple[str, ...]:
    return (MANAGED_TAG, vhost_tag(vhost))


@dataclass(frozen=True, slots=True)
class User:
    password_hash: str
    tags: frozenset[str]


@dataclass(frozen=True, slots=True)
class Permission:
    """A vhost permission: regexes over exchange and queue names."""

    configure: str = NOTHING
    write: str = NOTHING
    read: str = NOTHING


@dataclass(frozen=True, slots=True)
class TopicPermission:
    """A topic permission on one exchange: regexes over routing keys."""

    write: str = NOTHING
    read: str = NOTHING


@dataclass
class BrokerState:
    """Users, permissions and topology of one vhost (desired or actual)."""

    vhost_exists: bool = True
    users: dict[str, User] = field(default_factory=dict)
    permissions: dict[str, Permission] = field(default_factory=dict)
    topic_permissions: dict[tuple[str, str], TopicPermission] = field(default_factory=dict)
    exchanges: dict[str, ExchangeSpec] = field(default_factory=dict)
    queues: dict[str, QueueSpec] = field(default_factory=dict)
    bindings: dict[BindingSpec, str] = field(default_factory=dict)
    """Binding -> its ``properties_key`` on the broker (what a DELETE names)."""
    unmanaged: set[str] = field(default_factory=set)
    """Actual only: broker users the directory does not own."""
    refused: list[str] = field(default_factory=list)
    """Desired only: rows of the store left out because a name breaks the naming rules."""

    def counts(self) -> dict[str, int]:
        return {
            "users": len(self.users),
            "permissions": len(self.permissions),
            "topic_permissions": len(self.topic_permissions),
            "exchanges": len(self.exchanges),
            "queues": len(self.queues),
            "bindings": len(self.bindings),
        }
