"""Passwords of people: argon2id hashes (RFC 9106), computed off the event loop.

>>> import asyncio
>>> hashed = asyncio.run(hash_password("kata sandi yang panjang"))
>>> hashed.startswith("$argon2id$")
True
>>> asyncio.run(password_matches(hashed, "kata sandi yang panjang"))
True
>>> asyncio.run(password_matches(hashed, "salah"))
False
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from splp.web.problems import Problem

MIN_LENGTH = 12
MAX_LENGTH = 256
"""A bound on the work one login can cause (argon2 hashes the whole password)."""

_hasher = PasswordHasher()  # argon2id, RFC 9106's low-memory profile
_DUMMY = _hasher.hash("a password nobody has")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def password_matches(hashed: str | None, password: str) -> bool:
    """Whether ``password`` matches ``hashed``; a missing hash costs as much as a wrong one,
    so timing tells nobody whether an account exists."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return await asyncio.to_thread(_hasher.verify, hashed or _DUMMY, password) and bool(hashed)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    return _hasher.check_needs_rehash(hashed)


def check_new_password(password: str, email: str) -> None:
    """A 422 naming what is wrong with a new password."""
    if len(password) < MIN_LENGTH:
        raise Problem(422, f"the password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise Problem(422, f"the password may have at most {MAX_LENGTH} characters")
    if password.strip().lower() == email.lower() or email.split("@")[0].lower() in {
        password.lower()
    }:
        raise Problem(422, "the password may not be the e-mail address")
