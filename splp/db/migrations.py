"""Alembic migrations shipped inside the package, run without an ``alembic.ini``.

Each store has a folder of revisions and its own version table, so the directory and the
audit store can share one database without their histories touching. The folder's
``env.py`` is two lines::

    from splp.db import run_environment
    run_environment(Base.metadata)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, MetaData
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

DEFAULT_VERSION_TABLE = "alembic_version"


@dataclass(frozen=True)
class Migrations:
    """The revisions in ``folder``, recorded in ``version_table``."""

    folder: Path
    version_table: str = DEFAULT_VERSION_TABLE

    def config(self, connection: Connection | None = None) -> Config:
        # alembic (and mako) load only when a store is migrated or its revision asked:
        # the audit sink and the adapters' processes never pay for them otherwise
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(self.folder))
        config.attributes["connection"] = connection
        config.attributes["version_table"] = self.version_table
        return config

    async def upgrade(self, engine: AsyncEngine) -> None:
        """Bring the schema to the newest revision (creates the tables in an empty store)."""
        from alembic import command

        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(self.config(sync), "head"))

    async def revision(self, engine: AsyncEngine) -> str | None:
        """The schema revision of the store, ``None`` before the first migration."""
        async with engine.connect() as connection:
            return await self.revision_on(connection)

    async def revision_on(self, connection: AsyncConnection) -> str | None:
        """The schema revision, read on ``connection`` (in its transaction, if any)."""
        from alembic.runtime.migration import MigrationContext

        return await connection.run_sync(
            lambda sync: MigrationContext.configure(
                sync, opts={"version_table": self.version_table}
            ).get_current_revision()
        )

    def head(self) -> str:
        """The newest revision shipped with this version of SPLP."""
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self.config()).get_current_head()
        assert head is not None
        return head


def run_environment(metadata: MetaData) -> None:
    """The body of a migrations folder's ``env.py``: run on the connection that
    :meth:`Migrations.upgrade` hands over, never on a URL of its own."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through the store's migrate()")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=context.config.attributes["version_table"],
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()
