"""Signing people in: password (argon2id), an optional TOTP code, slowing and locking after
failed attempts, and sessions held in a cookie.

A session cookie is 256 random bits; the store keeps its SHA-256 only. Each login makes a
new session (the id a browser held before is never kept). A form or a request that changes
something must also carry the session's CSRF token, :func:`csrf_token`, which is derived
from the cookie, so it needs no storage and an attacker's page cannot know it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from splp.db import utcnow
from splp.directory_service.models import Party, User, UserSession
from splp.directory_service.parties import Caller
from splp.directory_service.passwords import (
    hash_password,
    needs_rehash,
    password_matches,
)
from splp.directory_service.tokens import hash_token, new_token
from splp.settings import Settings
from splp.web.csrf import csrf_token

COOKIE = "splp_session"
MAX_SLOWDOWN = 8.0
WRONG = "wrong e-mail address, password or code"


@dataclass(frozen=True, slots=True)
class Login:
    """A successful login: the person, the new session cookie's value, its CSRF token."""

    user: User
    party: Party
    cookie: str
    csrf: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused login; ``locked_now`` when this failure locked the account."""

    status: int
    detail: str
    user: User | None
    locked_now: bool = False


async def login(
    session: AsyncSession,
    settings: Settings,
    email: str,
    password: str,
    code: str | None,
) -> Login | Refusal:
    """Check a login and, when it succeeds, open a session. The caller commits."""
    row = (
        await session.execute(
            select(User, Party)
            .join(Party, Party.id == User.party_id)
            .where(User.email == email.strip().lower())
        )
    ).one_or_none()
    user, party = (row[0], row[1]) if row is not None else (None, None)
    now = utcnow()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        await password_matches(None, password)  # the same cost as any other attempt
        return Refusal(
            429,
            "too many failed logins: the account is locked for now; try later or "
            "ask an administrator to reset the password",
            user,
        )
    matches = await password_matches(user.password_hash if user else None, password)
    if user is None or party is None or user.disabled_at is not None or not matches:
        return await _failed(user, settings)
    if user.totp_secret is not None:
        if not code:
            return Refusal(
                401, "this account needs the 6-digit code of its authenticator app", None
            )
        if not pyotp.TOTP(user.totp_secret).verify(code.strip(), valid_window=1):
            return await _failed(user, settings)
    assert user.password_hash is not None
    if needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    cookie = new_token()
    expires_at = now + timedelta(seconds=settings.session_ttl)
    session.add(UserSession(user_id=user.id, token_hash=hash_token(cookie), expires_at=expires_at))
    await session.flush()
    return Login(user, party, cookie, csrf_token(cookie), expires_at)


async def _failed(user: User | None, settings: Settings) -> Refusal:
    """Count a failure; slow the answer past ``login_slow_after``, lock past
    ``login_lock_after``."""
    if user is None:
        return Refusal(401, WRONG, None)
    user.failed_logins = (user.failed_logins or 0) + 1
    over = user.failed_logins - settings.login_slow_after
    if over >= 0:
        await asyncio.sleep(min(MAX_SLOWDOWN, 0.25 * 2**over))
    if user.failed_logins >= settings.login_lock_after:
        user.locked_until = utcnow() + timedelta(seconds=settings.login_lock_seconds)
        user.failed_logins = 0
        return Refusal(401, WRONG, user, locked_now=True)
    return Refusal(401, WRONG, user)


async def session_caller(session: AsyncSession, cookie: str) -> Caller | None:
    """The signed-in person behind ``cookie``: a caller with the person's roles (those the
    party still holds), or ``None`` for an unknown, expired or disabled one."""
    if len(cookie) > 200 or not cookie.isascii():
        return None
    row = (
        await session.execute(
            select(User, Party)
            .join(UserSession, UserSession.user_id == User.id)
            .join(Party, Party.id == User.party_id)
            .where(UserSession.token_hash == hash_token(cookie), UserSession.expires_at > utcnow())
        )
    ).one_or_none()
    if row is None:
        return None
    user, party = row[0], row[1]
    if user.disabled_at is not None:
        return None
    roles = frozenset(user.roles) & frozenset(party.roles)
    return Caller(party.id, party.name, roles, user_id=user.id, person=user.email)


async def logout(session: AsyncSession, cookie: str) -> None:
    await session.execute(delete(UserSession).where(UserSession.token_hash == hash_token(cookie)))


async def purge_expired(session: AsyncSession) -> None:
    await session.execute(delete(UserSession).where(UserSession.expires_at <= utcnow()))


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name="SPLP")


def totp_matches(secret: str, code: str) -> bool:
    return pyotp.TOTP(secret).verify(code.strip(), valid_window=1)
