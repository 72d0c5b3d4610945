"""Accounts of people: each belongs to a party and holds some of the party's roles.

An administrator adds a person with :func:`add_user`; the answer carries a one-time
set-password token (shown once, only its SHA-256 is stored), which the person redeems with
:func:`set_password`. :func:`reset_password` issues a new token and ends the person's
sessions; :func:`disable_user` ends them for good. Signing in is :mod:`.logins`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from splp.db import utcnow
from splp.directory_service.models import Party, User, UserSession
from splp.directory_service.passwords import check_new_password, hash_password
from splp.directory_service.tokens import hash_token, new_token
from splp.web.problems import Problem

EMAIL = re.compile(
    r"^[^@\s\x00-\x1f]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
NIP = re.compile(r"^[0-9]{18}$")
"""A civil servant's NIP (Nomor Induk Pegawai): 18 digits."""


def normal_email(email: str) -> str:
    """``email`` trimmed and lower-cased; a 422 when it is not an address."""
    email = email.strip().lower()
    if len(email) > 254 or not EMAIL.match(email):
        raise Problem(422, "the e-mail address is not valid")
    return email


def user_view(user: User, party: Party) -> dict[str, Any]:
    return {
        "email": user.email,
        "name": user.name,
        "nip": user.nip,
        "party": party.name,
        "roles": sorted(user.roles),
        "state": user_state(user),
        "totp": user.totp_secret is not None,
        "last_login_at": user.last_login_at,
        "created_at": user.created_at,
    }


def user_state(user: User, now: datetime | None = None) -> str:
    """``disabled``, ``locked``, ``pending`` (no password yet) or ``active``."""
    if user.disabled_at is not None:
        return "disabled"
    if user.locked_until is not None and user.locked_until > (now or utcnow()):
        return "locked"
    if user.password_hash is None:
        return "pending"
    return "active"


async def add_user(
    session: AsyncSession,
    party: Party,
    email: str,
    name: str,
    roles: list[str],
    nip: str | None,
    link_ttl: float,
) -> tuple[User, str]:
    """A new person of ``party`` and their one-time set-password token."""
    email = normal_email(email)
    outside = sorted(set(roles) - set(party.roles))
    if outside:
        raise Problem(
            422,
            f"party {party.name} does not hold the role(s) {', '.join(outside)}; "
            f"a person's roles are some of the party's ({', '.join(sorted(party.roles))})",
        )
    if not roles:
        raise Problem(422, "give the person at least one role")
    if nip is not None and not NIP.match(nip):
        raise Problem(422, "a NIP has 18 digits")
    if await session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Problem(409, f"a person with the e-mail {email} exists already")
    user = User(
        party_id=party.id,
        email=email,
        name=name,
        nip=nip,
        roles=sorted(set(roles)),
        failed_logins=0,
    )
    session.add(user)
    token = _new_setup(user, link_ttl)
    await session.flush()
    return user, token


def _new_setup(user: User, link_ttl: float) -> str:
    token = new_token()
    user.setup_hash = hash_token(token)
    user.setup_expires_at = utcnow() + timedelta(seconds=link_ttl)
    return token


async def user_named(session: AsyncSession, email: str) -> tuple[User, Party]:
    row = (
        await session.execute(
            select(User, Party)
            .join(Party, Party.id == User.party_id)
            .where(User.email == email.strip().lower())
        )
    ).one_or_none()
    if row is None:
        raise Problem(404, f"no person with the e-mail {email.strip().lower()}")
    return row[0], row[1]


async def list_users(session: AsyncSession, party: str | None = None) -> list[dict[str, Any]]:
    query = (
        select(User, Party).join(Party, Party.id == User.party_id).order_by(Party.name, User.email)
    )
    if party is not None:
        query = query.where(Party.name == party)
    return [user_view(user, p) for user, p in (await session.execute(query)).all()]


async def end_sessions(session: AsyncSession, user: User) -> None:
    await session.execute(delete(UserSession).where(UserSession.user_id == user.id))


async def disable_user(session: AsyncSession, user: User) -> None:
    if user.disabled_at is None:
        user.disabled_at = utcnow()
    user.setup_hash = None
    user.setup_expires_at = None
    await end_sessions(session, user)


async def reset_password(
    session: AsyncSession, user: User, link_ttl: float, clear_totp: bool
) -> str:
    """Forget the password, unlock, end every session, and issue a new set-password token."""
    if user.disabled_at is not None:
        raise Problem(409, f"{user.email} is disabled")
    user.password_hash = None
    user.failed_logins = 0
    user.locked_until = None
    if clear_totp:
        user.totp_secret = None
        user.totp_pending = None
    await end_sessions(session, user)
    return _new_setup(user, link_ttl)


async def set_password(session: AsyncSession, token: str, password: str) -> User:
    """Redeem a one-time set-password token (it works once, until it expires)."""
    if len(token) > 200 or not token.isascii():
        raise Problem(400, "the set-password link is not valid")
    user = await session.scalar(select(User).where(User.setup_hash == hash_token(token)))
    if (
        user is None
        or user.disabled_at is not None
        or user.setup_expires_at is None
        or user.setup_expires_at < utcnow()
    ):
        raise Problem(
            400,
            "the set-password link is not valid or has expired; ask an administrator for a new one",
        )
    check_new_password(password, user.email)
    user.password_hash = await hash_password(password)
    user.setup_hash = None
    user.setup_expires_at = None
    user.failed_logins = 0
    user.locked_until = None
    await end_sessions(session, user)
    return user
