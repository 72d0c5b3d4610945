"""The store: an async SQLAlchemy engine on SQLite or PostgreSQL, and its migrations.

>>> store = Store("sqlite+aiosqlite:///splp.db")  # doctest: +SKIP
>>> await store.migrate()                          # doctest: +SKIP
>>> async with store.session() as session: ...     # doctest: +SKIP

Migrations are Alembic revisions shipped inside the package
(``splp/directory_service/migrations``); :meth:`Store.migrate` runs them to the head
revision, so ``splp directory init`` and ``splp directory serve`` need no ``alembic.ini``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from splp.db import Migrations, create_engine

MIGRATIONS = Migrations(Path(__file__).resolve().parent / "migrations")


class Store:
    """The directory's database: engine, sessions and schema version."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction, committed when the block ends without error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (creates the tables in an empty store)."""
        await MIGRATIONS.upgrade(self.engine)

    async def revision(self) -> str | None:
        """The schema revision of the store, ``None`` before the first migration."""
        return await MIGRATIONS.revision(self.engine)

    @staticmethod
    def head() -> str:
        """The newest revision shipped with this version of SPLP."""
        return MIGRATIONS.head()

    async def close(self) -> None:
        await self.engine.dispose()
