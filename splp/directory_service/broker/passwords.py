"""Broker passwords: random, shown once, kept only as RabbitMQ's own salted hash.

RabbitMQ's ``rabbit_password_hashing_sha256`` stores ``base64(salt + sha256(salt + password))``
with a 4-byte random salt; the directory computes the same value and hands the broker
only the hash (``password_hash`` in the management API), so the password itself never
leaves the answer that shows it to the party.

>>> stored = password_hash("s3cret", salt=b"\\x00\\x01\\x02\\x03")
>>> stored
'AAECA/Z4o7gyWGkwBkIiWErrROfsRiTTT3rlxbO+R0Z7Jvxn'
>>> password_matches("s3cret", stored), password_matches("guess", stored)
(True, False)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

HASHING_ALGORITHM = "rabbit_password_hashing_sha256"
SALT_BYTES = 4


def new_password() -> str:
    """A new broker password (192 random bits, URL-safe, no characters that need quoting)."""
    return secrets.token_urlsafe(24)


def password_hash(password: str, *, salt: bytes | None = None) -> str:
    """RabbitMQ's salted SHA-256 hash of ``password``, base64-encoded."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    if len(salt) != SALT_BYTES:
        raise ValueError("RabbitMQ's sha256 scheme uses a 4-byte salt")
    digest = hashlib.sha256(salt + password.encode("utf-8")).digest()
    return base64.b64encode(salt + digest).decode("ascii")


def password_matches(password: str, stored: str) -> bool:
    """Whether ``password`` is the one behind ``stored`` (for tests and diagnostics)."""
    raw = base64.b64decode(stored)
    salt = raw[:SALT_BYTES]
    return hmac.compare_digest(password_hash(password, salt=salt).encode(), stored.encode())
