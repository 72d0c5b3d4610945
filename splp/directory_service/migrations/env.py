"""Alembic environment of the directory's store (see :mod:`splp.db.migrations`)."""

from __future__ import annotations

from splp.db import run_environment
from splp.directory_service.models import Base

run_environment(Base.metadata)
