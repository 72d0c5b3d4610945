"""Directory API tokens: random, shown once, stored as SHA-256 hashes.

>>> token = new_token()
>>> token.startswith("splp_") and len(hash_token(token)) == 64
True
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "splp_"


def new_token() -> str:
    """A new bearer token (256 bits of randomness, URL-safe)."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The hex SHA-256 of ``token``, which is all the store keeps.

    A token has 256 random bits, so a plain (unsalted, fast) hash is enough: there is
    nothing to guess, and the hash is what an index lookup needs.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
