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
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from splp.errors import ConfigurationError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration on the packaged migrations (no ini file)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url``; only SQLite (aiosqlite) and PostgreSQL (asyncpg)."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with the raw URL inside
        raise ConfigurationError(f"SPLP_DATABASE_URL is not a database URL: {exc}") from None
    if parsed.drivername not in {"sqlite+aiosqlite", "postgresql+asyncpg"}:
        raise ConfigurationError(
            f"unsupported database driver {parsed.drivername!r}: "
            "use sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/DB"
        )
    engine = create_async_engine(parsed, pool_pre_ping=True)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _enable_sqlite_foreign_keys)
    return engine


def require_existing(url: str) -> None:
    """Refuse a SQLite file that does not exist, before SQLite creates it empty: commands
    that only read a store (backup, verify, status) must not leave a stray file behind.

    >>> require_existing("sqlite+aiosqlite:///no/such/splp.db")
    Traceback (most recent call last):
    ...
    splp.errors.ConfigurationError: no store at no/such/splp.db: run splp directory init ...
    """
    try:
        parsed = make_url(url)
    except Exception:
        return  # create_engine says what is wrong with it
    database = parsed.database or ""
    in_a_file = database not in ("", ":memory:") and not database.startswith("file:")
    if parsed.get_backend_name() == "sqlite" and in_a_file and not Path(database).exists():
        raise ConfigurationError(
            f"no store at {database}: run splp directory init first (or set SPLP_DATABASE_URL)"
        )


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
        async with self.engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))

    async def revision(self) -> str | None:
        """The schema revision of the store, ``None`` before the first migration."""
        async with self.engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )

    @staticmethod
    def head() -> str:
        """The newest revision shipped with this version of SPLP."""
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert head is not None
        return head

    async def close(self) -> None:
        await self.engine.dispose()
