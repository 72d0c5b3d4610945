"""Alembic environment of the audit store: its own version table (set by
:data:`splp.audit.store.MIGRATIONS`), so it can share a database with the directory's
migrations without touching them."""

from __future__ import annotations

from splp.audit.records import AuditBase
from splp.db import run_environment

run_environment(AuditBase.metadata)
