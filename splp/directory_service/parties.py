"""Parties (agencies and applications), their roles and their API tokens."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from splp.db import utcnow
from splp.directory_service.models import ApiToken, Party
from splp.directory_service.tokens import hash_token, new_token
from splp.web.problems import Problem


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated party behind a request, and the person acting for it when the
    request came from a signed-in portal user (``None`` for a machine's API token)."""

    id: int
    name: str
    roles: frozenset[str]
    user_id: int | None = None
    person: str | None = None

    def has(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)

    @property
    def is_administrator(self) -> bool:
        return "administrator" in self.roles


acting_person: ContextVar[str | None] = ContextVar("splp_acting_person", default=None)
"""The e-mail of the person behind the current request, set when the caller is
authenticated; the directory's audit events name that person beside the party."""


async def create_party(
    session: AsyncSession, name: str, roles: list[str], title: str = ""
) -> tuple[Party, str]:
    """A new party and its first token (the only time the token exists in clear)."""
    if await session.scalar(select(Party.id).where(Party.name == name)) is not None:
        raise Problem(409, f"party {name!r} exists already")
    party = Party(name=name, title=title, roles=sorted(set(roles)))
    session.add(party)
    await session.flush()
    token = await issue_token(session, party)
    return party, token


async def issue_token(session: AsyncSession, party: Party) -> str:
    """A new token for ``party``; its hash is stored, the token is returned once."""
    token = new_token()
    session.add(ApiToken(party_id=party.id, token_hash=hash_token(token)))
    await session.flush()
    return token


async def rotate_tokens(session: AsyncSession, party: Party) -> str:
    """Revoke every token of ``party`` and issue a new one (a lost or leaked token)."""
    tokens = await session.scalars(
        select(ApiToken).where(ApiToken.party_id == party.id, ApiToken.revoked_at.is_(None))
    )
    for token in tokens.all():
        token.revoked_at = utcnow()
    return await issue_token(session, party)


async def authenticate(session: AsyncSession, token: str) -> Caller | None:
    """The party that holds ``token``, or ``None``."""
    row = (
        await session.execute(
            select(Party)
            .join(ApiToken, ApiToken.party_id == Party.id)
            .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    return Caller(row.id, row.name, frozenset(row.roles))


async def party_named(session: AsyncSession, name: str) -> Party:
    party = await session.scalar(select(Party).where(Party.name == name))
    if party is None:
        raise Problem(404, f"no party named {name!r}")
    return party


async def administrator_count(session: AsyncSession) -> int:
    parties = (await session.scalars(select(Party.roles))).all()
    return sum("administrator" in roles for roles in parties)


async def party_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count(Party.id))) or 0)
