"""The keys of the subject HMAC (:mod:`splp.bus.subject`), held by the control plane.

The newest key is the one adapters use; it is made on first use. Rotating adds a newer
one: adapters pick it up on their next refresh, and the older keys are kept so that a
subject lookup still finds the accesses recorded under them.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from splp.bus.subject import SubjectKey as Key
from splp.directory_service.models import SubjectKey


async def current_key(session: AsyncSession) -> Key:
    """The newest key, made when there is none yet."""
    row = await session.scalar(select(SubjectKey).order_by(SubjectKey.id.desc()).limit(1))
    if row is None:
        return await rotate(session)
    return Key(row.id, bytes.fromhex(row.secret))


async def rotate(session: AsyncSession) -> Key:
    """Add a new newest key (the older ones stay, for lookups)."""
    row = SubjectKey(secret=new_secret())
    session.add(row)
    await session.flush()
    return Key(row.id, bytes.fromhex(row.secret))


def new_secret() -> str:
    """A new key: 32 random bytes, hex (the form stored and served)."""
    return secrets.token_hex(32)


async def every_key(session: AsyncSession) -> list[Key]:
    """Every key ever used, oldest first."""
    rows = await session.scalars(select(SubjectKey).order_by(SubjectKey.id))
    return [Key(row.id, bytes.fromhex(row.secret)) for row in rows]
