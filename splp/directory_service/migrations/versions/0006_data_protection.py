"""Data protection (UU 27/2022): what an access request to personal data must state, the
administrator's data-protection check, the fields a grant allows, and the keys of the
subject HMAC.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("legal_basis", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("contact", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("data_protection_note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("fields", sa.JSON(), nullable=True))
    op.create_table(
        "subject_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_keys")),
    )


def downgrade() -> None:
    op.drop_table("subject_keys")
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        for column in ("fields", "data_protection_note", "contact", "legal_basis", "purpose"):
            batch_op.drop_column(column)
