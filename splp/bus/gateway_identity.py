"""The broker identities the HTTP gateway calls on, one per requester party.

A call that enters through the gateway for party A travels on the broker user
``<prefix>A@gateway``, which the directory's reconciler keeps with exactly A's requester
permissions. So the broker still bounds what a gateway bug could reach, and the adapter
knows the call is A's: :func:`requester_of` maps the ``user_id`` back to A's own broker
user for grants, quotas and the audit trail.

The password of such a user is derived from ``SPLP_GATEWAY_SECRET``, which both the
gateway and the directory process hold; the store never keeps it, in clear or hashed.

>>> gateway_user("dinsos", "splp-")
'splp-dinsos@gateway'
>>> requester_of("splp-dinsos@gateway")
('splp-dinsos', 'gateway')
>>> requester_of("splp-dinsos")
('splp-dinsos', None)
>>> len(gateway_password(b"a secret of the regency", "splp-dinsos@gateway"))
43
"""

from __future__ import annotations

import base64
import hashlib
import hmac

GATEWAY_SUFFIX = "@gateway"
"""Ends every gateway broker user; a party name (``[a-z0-9-]``) can never contain ``@``."""
VIA_GATEWAY = "gateway"


def gateway_user(party: str, user_prefix: str = "") -> str:
    """The broker user the gateway uses for calls of ``party``."""
    return f"{user_prefix}{party}{GATEWAY_SUFFIX}"


def requester_of(user_id: str) -> tuple[str, str | None]:
    """The requester's own broker user behind ``user_id``, and ``"gateway"`` if the call
    came through the gateway (``None`` if it came straight over AMQP)."""
    if user_id.endswith(GATEWAY_SUFFIX):
        return user_id[: -len(GATEWAY_SUFFIX)], VIA_GATEWAY
    return user_id, None


def derive(secret: bytes, label: str) -> bytes:
    """A key for one purpose, derived from the gateway secret (HMAC-SHA-256)."""
    return hmac.new(secret, b"splp-gateway:" + label.encode(), hashlib.sha256).digest()


def gateway_password(secret: bytes, broker_user: str) -> str:
    """The broker password of a gateway user: 256 bits, URL-safe, never stored."""
    key = derive(secret, "broker-password:" + broker_user)
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode()
