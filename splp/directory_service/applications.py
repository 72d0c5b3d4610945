"""Applications of a party and their client credentials (RFC 6749 §4.4) for the HTTP gateway.

A party may have several applications (its web portal, a back-office job...). Each gets a
client id (public, random), a client secret and, for legacy applications that cannot do
the token request, an API key. Secret and key are 256 random bits, shown once and stored
only as their SHA-256, like the directory's own API tokens
(:mod:`splp.directory_service.tokens`). The gateway reads the hashes
(``GET /gateway/credentials``) and checks what an application presents against them.

>>> client_id = new_client_id()
>>> client_id.startswith(CLIENT_ID_PREFIX) and len(client_id) == len(CLIENT_ID_PREFIX) + 16
True
>>> new_client_secret().startswith(SECRET_PREFIX), new_api_key().startswith(API_KEY_PREFIX)
(True, True)
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from splp.db import utcnow
from splp.directory_service.models import Application, Party
from splp.directory_service.tokens import hash_token
from splp.web.problems import Problem

CLIENT_ID_PREFIX = "splp-app-"
SECRET_PREFIX = "splp_cs_"
API_KEY_PREFIX = "splp_ak_"
MAX_ACTIVE = 50
"""Applications a party may hold at once: enough for any agency, a bound on a runaway script."""


def new_client_id() -> str:
    """A public client id: ``splp-app-`` and 16 URL-safe characters (96 random bits)."""
    return CLIENT_ID_PREFIX + secrets.token_urlsafe(12)


def new_client_secret() -> str:
    """A client secret: 256 random bits, URL-safe."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def new_api_key() -> str:
    """An API key for a legacy application: 256 random bits, URL-safe."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Issued:
    """A new application and its credentials in clear, which exist only in this answer."""

    application: Application
    client_secret: str
    api_key: str | None


def view(application: Application, party: str) -> dict[str, Any]:
    """What may be shown of an application: never a secret or its hash."""
    return {
        "party": party,
        "name": application.name,
        "client_id": application.client_id,
        "api_key": application.api_key_hash is not None,
        "created_at": application.created_at,
        "revoked_at": application.revoked_at,
        "secret_rotated_at": application.secret_rotated_at,
    }


async def add_application(
    session: AsyncSession, party: Party, name: str, *, api_key: bool = False
) -> Issued:
    """A new application of ``party``; 409 if an active one has that name, 422 for a party
    that is no requester (the gateway only calls services) or already has too many."""
    if "requester" not in party.roles:
        raise Problem(
            422,
            f"{party.name} is not a requester: only requesters call services through the gateway",
        )
    active = (await session.scalars(_active(party.id))).all()
    if any(a.name == name for a in active):
        raise Problem(409, f"{party.name} has an application named {name!r} already")
    if len(active) >= MAX_ACTIVE:
        raise Problem(422, f"{party.name} has {len(active)} applications; revoke one first")
    secret = new_client_secret()
    key = new_api_key() if api_key else None
    application = Application(
        party_id=party.id,
        name=name,
        client_id=new_client_id(),
        secret_hash=hash_token(secret),
        api_key_hash=hash_token(key) if key else None,
    )
    session.add(application)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent add of the same name
        raise Problem(409, f"{party.name} has an application named {name!r} already") from None
    return Issued(application, secret, key)


async def list_applications(
    session: AsyncSession, party: Party | None = None, *, include_revoked: bool = False
) -> list[dict[str, Any]]:
    """Applications (of ``party``, or of every party), by party and name."""
    query = select(Application, Party.name).join(Party, Party.id == Application.party_id)
    if party is not None:
        query = query.where(Application.party_id == party.id)
    if not include_revoked:
        query = query.where(Application.revoked_at.is_(None))
    query = query.order_by(Party.name, Application.name, Application.id)
    return [view(app, name) for app, name in (await session.execute(query)).all()]


async def _active_application(session: AsyncSession, party: Party, client_id: str) -> Application:
    """``party``'s application ``client_id``: 404 if it has none, 409 if it is revoked."""
    application = await session.scalar(
        select(Application).where(
            Application.party_id == party.id, Application.client_id == client_id
        )
    )
    if application is None:
        raise Problem(404, f"{party.name} has no application {client_id!r}")
    if application.revoked_at is not None:
        raise Problem(
            409, f"application {client_id} of {party.name} is revoked already", kind="revoked"
        )
    return application


async def revoke_application(session: AsyncSession, party: Party, client_id: str) -> Application:
    """Revoke an application of ``party``: 404 if it has none with ``client_id``, 409 if it
    is revoked already."""
    application = await _active_application(session, party, client_id)
    application.revoked_at = utcnow()
    await session.flush()
    return application


async def rotate_secret(session: AsyncSession, party: Party, client_id: str) -> Issued:
    """A new client secret for an active application of ``party`` (404, 409 as
    :func:`revoke_application`); the old one stops working at the gateway's next refresh.
    The API key, if any, stays."""
    application = await _active_application(session, party, client_id)
    secret = new_client_secret()
    application.secret_hash = hash_token(secret)
    application.secret_rotated_at = utcnow()
    await session.flush()
    return Issued(application, secret, None)


async def gateway_credentials(session: AsyncSession) -> list[dict[str, Any]]:
    """Every active application of a requester, with the hashes the gateway checks against."""
    rows = await session.execute(
        select(Application, Party.name, Party.roles)
        .join(Party, Party.id == Application.party_id)
        .where(Application.revoked_at.is_(None))
        .order_by(Application.client_id)
    )
    return [
        {
            "client_id": application.client_id,
            "party": party,
            "application": application.name,
            "secret_hash": application.secret_hash,
            "api_key_hash": application.api_key_hash,
        }
        for application, party, roles in rows.all()
        if "requester" in roles
    ]


def _active(party_id: int) -> Any:
    return select(Application).where(
        Application.party_id == party_id, Application.revoked_at.is_(None)
    )
