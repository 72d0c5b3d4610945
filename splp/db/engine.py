"""Async engines on the two supported databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from splp.errors import ConfigurationError

DRIVERS = frozenset({"sqlite+aiosqlite", "postgresql+asyncpg"})


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url``; only SQLite (aiosqlite) and PostgreSQL (asyncpg).

    >>> create_engine("mysql://root@localhost/splp")
    Traceback (most recent call last):
    ...
    splp.errors.ConfigurationError: unsupported database driver 'mysql': use ...
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with the raw URL inside
        raise ConfigurationError(f"SPLP_DATABASE_URL is not a database URL: {exc}") from None
    if parsed.drivername not in DRIVERS:
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


@asynccontextmanager
async def read_snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection whose reads all see one snapshot of the database, for backups.

    On PostgreSQL a ``REPEATABLE READ READ ONLY`` transaction: under the default READ
    COMMITTED each statement takes a snapshot of its own, so a change committed between
    two SELECTs would be half in a backup. On SQLite an explicit ``BEGIN``: the driver
    opens no transaction for reads, so each SELECT would see the newest commit; inside
    one, SQLite keeps its read lock (writers wait) or, in WAL mode, its snapshot.
    """
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = await connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            async with connection.begin():
                yield connection
            return
        async with connection.begin():
            await connection.exec_driver_sql("BEGIN")
            yield connection
