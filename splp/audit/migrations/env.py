"""Alembic environment of the audit store: its own version table, so it can share a
database with the directory's migrations without touching them."""

from __future__ import annotations

from alembic import context

from splp.audit.records import AuditBase

VERSION_TABLE = "splp_audit_alembic_version"

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through splp.audit.AuditStore.migrate()")

context.configure(
    connection=connection,
    target_metadata=AuditBase.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
