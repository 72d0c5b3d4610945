"""The audit store's first schema: the hash-chained ``audit_records`` table.

Revision ID: a0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_records",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            autoincrement=False,
        ),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=80), nullable=False),
        sa.Column("theme", sa.String(length=63), nullable=True),
        sa.Column("publisher", sa.String(length=63), nullable=True),
        sa.Column("service", sa.String(length=63), nullable=True),
        sa.Column("major", sa.Integer(), nullable=True),
        sa.Column("requester", sa.String(length=255), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("flag", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_records")),
        sa.UniqueConstraint("event_id", name=op.f("uq_audit_records_event_id")),
    )
    op.create_index(op.f("ix_audit_records_at"), "audit_records", ["at"])
    op.create_index(op.f("ix_audit_records_kind"), "audit_records", ["kind"])
    op.create_index(op.f("ix_audit_records_service"), "audit_records", ["service"])
    op.create_index(op.f("ix_audit_records_requester"), "audit_records", ["requester"])


def downgrade() -> None:
    op.drop_table("audit_records")
