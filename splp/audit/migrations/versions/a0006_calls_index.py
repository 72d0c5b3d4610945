"""A covering index of the call events, for the reports' scans of a period.

The evaluation report (``splp report evaluasi``) and the usage report scan every call of
a period (``kind`` in ``response``, ``denied``, ``throttled``, ``dropped``, without
``provenance``). On PostgreSQL this partial index on ``at`` INCLUDEs every column they
read, so they read it alone (an index-only scan, about 100 bytes a call) instead of the
table (about 600 bytes a call, most of it the event's text). On SQLite, which has no
INCLUDE, it is the same partial index on ``at`` alone.

Building it on 5,000,000 records took 9 s on the benchmark machine (bench/README.md);
the table takes no writes meanwhile.

Revision ID: a0006
Revises: a0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

from splp.audit.records import CALLS_INDEX, CALLS_INDEX_INCLUDE, CALLS_INDEX_WHERE

revision = "a0006"
down_revision = "a0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        CALLS_INDEX,
        "audit_records",
        ["at"],
        postgresql_include=list(CALLS_INDEX_INCLUDE),
        postgresql_where=CALLS_INDEX_WHERE,
        sqlite_where=CALLS_INDEX_WHERE,
    )


def downgrade() -> None:
    op.drop_index(CALLS_INDEX, table_name="audit_records")
