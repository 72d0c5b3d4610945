"""Names on the bus: themes, publishers, services, and the exchanges, queues and keys of them.

Every segment matches ``[a-z0-9-]+`` (at most 63 characters, no leading or trailing dash),
so a name can never carry a dot, a wildcard or a regex metacharacter into a routing key
or a broker permission.

>>> ref = ServiceRef.parse("dukcapil.penduduk.v1")
>>> routing_key_for(ref, "get-by-nik")
'dukcapil.penduduk.v1.get-by-nik'
>>> queue_for(ref)
'splp.svc.dukcapil.penduduk.v1'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from splp.errors import ContractError

SEGMENT_PATTERN = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
"""One name segment, unanchored: the source of every other name pattern."""
NAME_PATTERN = f"^{SEGMENT_PATTERN}$"
"""A whole name (theme, publisher, service, operation, party); the JSON Schemas repeat it."""
MAJOR_PATTERN = r"v(0|[1-9][0-9]{0,5})"
SERVICE_REF_PATTERN = rf"^{SEGMENT_PATTERN}\.{SEGMENT_PATTERN}\.{MAJOR_PATTERN}$"
"""A service reference ``<publisher>.<service>.v<major>``, as :meth:`ServiceRef.parse` reads it."""
ANY_SEGMENT = "[a-z0-9-]+"
"""In broker permissions: any one segment, never a dot (names are checked before that)."""
SEGMENT = re.compile(NAME_PATTERN)

AUDIT_EXCHANGE = "splp.audit"
AUDIT_SINK_QUEUE = "splp.audit.sink"
DEAD_LETTER_EXCHANGE = "splp.dlx"
DEAD_LETTER_QUEUE = "splp.dead-letters"
THEME_EXCHANGE_PREFIX = "splp.theme."
SERVICE_QUEUE_PREFIX = "splp.svc."
DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"


def check_segment(value: str, what: str = "name") -> str:
    """Return ``value`` if it is a valid name segment, else raise :class:`ContractError`."""
    if not isinstance(value, str) or not SEGMENT.fullmatch(value):
        raise ContractError(
            f"invalid {what} {value!r}: use 1-63 of a-z, 0-9 and '-', "
            "starting and ending with a letter or digit"
        )
    return value


@dataclass(frozen=True, slots=True)
class ServiceRef:
    """A service at one major version: ``<publisher>.<service>.v<major>``."""

    publisher: str
    service: str
    major: int

    def __post_init__(self) -> None:
        check_segment(self.publisher, "publisher")
        check_segment(self.service, "service")
        if not isinstance(self.major, int) or isinstance(self.major, bool) or self.major < 0:
            raise ContractError(f"invalid major version {self.major!r}")

    @classmethod
    def parse(cls, text: str) -> ServiceRef:
        """Parse ``publisher.service.vMAJOR``."""
        parts = text.split(".")
        if len(parts) != 3 or not re.fullmatch(MAJOR_PATTERN, parts[2]):
            raise ContractError(
                f"invalid service reference {text!r}: expected PUBLISHER.SERVICE.vMAJOR, "
                "for example dukcapil.penduduk.v1"
            )
        return cls(parts[0], parts[1], int(parts[2][1:]))

    def __str__(self) -> str:
        return f"{self.publisher}.{self.service}.v{self.major}"


def theme_exchange(theme: str) -> str:
    """The topic exchange of a theme: ``splp.theme.<theme>``."""
    return THEME_EXCHANGE_PREFIX + check_segment(theme, "theme")


def routing_key_for(service: ServiceRef, operation: str) -> str:
    """The request routing key: ``<publisher>.<service>.v<major>.<operation>``."""
    return f"{service}.{check_segment(operation, 'operation')}"


def queue_for(service: ServiceRef) -> str:
    """The service queue: ``splp.svc.<publisher>.<service>.v<major>``."""
    return f"{SERVICE_QUEUE_PREFIX}{service}"


def binding_key_for(service: ServiceRef) -> str:
    """The binding of a service queue on its theme exchange: every operation of the service."""
    return f"{service}.*"


def parse_routing_key(routing_key: str) -> tuple[ServiceRef, str]:
    """Split a request routing key into the service and the operation."""
    parts = routing_key.split(".")
    if len(parts) != 4:
        raise ContractError(f"invalid request routing key {routing_key!r}")
    service = ServiceRef.parse(".".join(parts[:3]))
    return service, check_segment(parts[3], "operation")
