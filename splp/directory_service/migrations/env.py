"""Alembic environment: runs on the connection :meth:`Store.migrate` hands over."""

from __future__ import annotations

from alembic import context

from splp.directory_service.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through splp.directory_service.Store.migrate()")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
