"""Throw-away databases for the suites that run whole on SQLite and on PostgreSQL.

PostgreSQL is the server on ``SPLP_TEST_POSTGRES`` (default: the local one, trust auth);
each database is created empty and dropped at the end.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

POSTGRES = os.environ.get("SPLP_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE_ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


async def create_postgres_database() -> str:
    """A new empty database; returns its SQLAlchemy URL."""
    name = f"splp_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(POSTGRES)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    base = POSTGRES.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"


async def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(POSTGRES)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def throwaway_database(
    engine: str, tmp_path_factory: pytest.TempPathFactory, name: str
) -> AsyncIterator[str]:
    """The SQLAlchemy URL of a fresh database on ``engine`` (``sqlite`` or ``postgres``)."""
    if engine == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp(name) / f'{name}.db'}"
        return
    url = await create_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(url)
