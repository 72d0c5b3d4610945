"""Provenance: who sent an audit event, and whether that sender may speak for it.

RabbitMQ refuses a message whose ``user_id`` property is not the publishing connection's
user, so the ``user_id`` of a message on ``splp.audit`` names its real sender. The sink
stores it as the record's ``sender`` and checks it against the event:

* ``access.*``, ``admin.*`` and ``broker.*`` events come from the directory, so only from
  the directory's broker user (``SPLP_AUDIT_DIRECTORY_USER``, by default the user of the
  sink's own ``SPLP_AMQP_URL``: the directory and the sink of one installation share it);
* adapter events (``response``, ``denied``, ``throttled``, ``dropped``) come from the
  adapter of the service they name, so only from the broker user of the service's
  publisher. A service's publisher is the first part of its name
  (``<publisher>.<service>.v<major>``, and the directory refuses a descriptor whose
  publisher is not the party publishing it), so the sink needs no lookup in the
  directory: the expected user is ``SPLP_BROKER_USER_PREFIX`` + the event's ``publisher``.

``SPLP_AUDIT_TRUSTED_SENDERS`` names broker users that may speak for any event (a test
bench, or an installation whose adapters all run as one operator user); none by default.

A mismatch is never dropped: the record is stored with its ``provenance`` saying what is
wrong, and every report leaves it out.

>>> rules = SenderRules(directory_user="splp-directory", party_prefix="")
>>> rules.check({"kind": "access.approve"}, "dinsos")
"sender 'dinsos' may not speak for the directory (access.*, admin.*, broker.* events)"
>>> rules.check({"kind": "response", "publisher": "dukcapil"}, "dukcapil") is None
True
>>> rules.check({"kind": "response", "publisher": "dukcapil"}, "dinsos")
"sender 'dinsos' may not speak for publisher 'dukcapil' (expected broker user 'dukcapil')"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from splp.bus.names import SEGMENT
from splp.settings import Settings

DIRECTORY_PREFIXES = ("access.", "admin.", "broker.")
ADAPTER_KINDS = frozenset({"response", "denied", "throttled", "dropped"})
NO_SENDER = "no sender: the message carried no user_id"


@dataclass(frozen=True, slots=True)
class Sent:
    """The broker-validated sender of a stored event, and what is wrong with it
    (``provenance`` is ``None`` when the sender may speak for the event)."""

    sender: str | None
    provenance: str | None = None


@dataclass(frozen=True, slots=True)
class SenderRules:
    """Which broker user may send which event; see the module docstring."""

    directory_user: str
    party_prefix: str = ""
    trusted: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_settings(cls, settings: Settings) -> SenderRules:
        return cls(
            directory_user=settings.audit_directory_user or settings.username,
            party_prefix=settings.broker_user_prefix,
            trusted=frozenset(settings.audit_trusted_sender_list),
        )

    def check(self, event: dict[str, Any], sender: str | None) -> str | None:
        """``None`` if ``sender`` may speak for ``event``, else why not (names, no values)."""
        kind = event.get("kind")
        directory = isinstance(kind, str) and kind.startswith(DIRECTORY_PREFIXES)
        adapter = kind in ADAPTER_KINDS
        if not (directory or adapter):
            return None  # an unknown kind is flagged by the schema, and no report counts it
        if not sender:
            return NO_SENDER
        if sender in self.trusted:
            return None
        if directory:
            if sender == self.directory_user:
                return None
            return (
                f"sender {sender!r} may not speak for the directory "
                "(access.*, admin.*, broker.* events)"
            )
        publisher = event.get("publisher")
        if not isinstance(publisher, str) or not SEGMENT.fullmatch(publisher):
            return f"sender {sender!r}: the adapter event names no valid publisher"
        expected = self.party_prefix + publisher
        if sender == expected:
            return None
        return (
            f"sender {sender!r} may not speak for publisher {publisher!r} "
            f"(expected broker user {expected!r})"
        )
