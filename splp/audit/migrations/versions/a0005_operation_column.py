"""The ``operation`` query column, for the evaluation report's totals per operation.

Copied from the event's ``operation`` member (a string of at most 63 characters, else
NULL), as :func:`splp.audit.records.copied_columns` does for new records; the records
stored before are filled in here from their event, so that ``splp audit verify`` still
finds every query column equal to its event.

Revision ID: a0005
Revises: a0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a0005"
down_revision = "a0002"
branch_labels = None
depends_on = None

BACKFILL = {
    "sqlite": (
        "UPDATE audit_records SET operation = json_extract(event, '$.operation') "
        "WHERE json_valid(event) AND json_type(event, '$.operation') = 'text' "
        "AND length(json_extract(event, '$.operation')) <= 63"
    ),
    "postgresql": (
        "UPDATE audit_records SET operation = (event::jsonb) ->> 'operation' "
        "WHERE jsonb_typeof((event::jsonb) -> 'operation') = 'string' "
        "AND char_length((event::jsonb) ->> 'operation') <= 63"
    ),
}


def upgrade() -> None:
    with op.batch_alter_table("audit_records") as batch:
        batch.add_column(sa.Column("operation", sa.String(length=63), nullable=True))
    statement = BACKFILL.get(op.get_bind().dialect.name)
    if statement is not None:
        op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table("audit_records") as batch:
        batch.drop_column("operation")
