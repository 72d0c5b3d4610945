"""Persistence pieces shared by the directory's store and the audit store.

Both stores run on SQLite (aiosqlite, the embedded default) or PostgreSQL (asyncpg), keep
timestamps in UTC and ship their own Alembic migrations inside the package::

    from splp.db import Migrations, create_engine
    engine = create_engine("sqlite+aiosqlite:///splp.db")
    await Migrations(Path("migrations")).upgrade(engine)
"""

from __future__ import annotations

from splp.db.columns import NAMING, UtcDateTime, utcnow
from splp.db.engine import create_engine, read_snapshot, require_existing
from splp.db.migrations import Migrations, run_environment

__all__ = [
    "NAMING",
    "Migrations",
    "UtcDateTime",
    "create_engine",
    "read_snapshot",
    "require_existing",
    "run_environment",
    "utcnow",
]
