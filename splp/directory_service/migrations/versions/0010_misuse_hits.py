"""Misuse rule hits and the supervision follow-ups recorded for them; when a party's broker
password was issued (issue 16).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("broker_password_set_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "misuse_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("requester", sa.String(length=255), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=True),
        sa.Column("operation", sa.String(length=63), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("suspended", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_misuse_hits")),
        sa.UniqueConstraint("key", name=op.f("uq_misuse_hits_key")),
    )
    with op.batch_alter_table("misuse_hits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_misuse_hits_rule"), ["rule"], unique=False)
        batch_op.create_index(batch_op.f("ix_misuse_hits_requester"), ["requester"], unique=False)
        batch_op.create_index(batch_op.f("ix_misuse_hits_until"), ["until"], unique=False)
    op.create_table(
        "supervision_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hit_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["hit_id"],
            ["misuse_hits.id"],
            name=op.f("fk_supervision_notes_hit_id_misuse_hits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["parties.id"], name=op.f("fk_supervision_notes_author_id_parties")
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["users.id"],
            name=op.f("fk_supervision_notes_author_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_notes")),
    )
    with op.batch_alter_table("supervision_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_supervision_notes_hit_id"), ["hit_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("supervision_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supervision_notes_hit_id"))
    op.drop_table("supervision_notes")
    with op.batch_alter_table("misuse_hits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_misuse_hits_until"))
        batch_op.drop_index(batch_op.f("ix_misuse_hits_requester"))
        batch_op.drop_index(batch_op.f("ix_misuse_hits_rule"))
    op.drop_table("misuse_hits")
    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.drop_column("broker_password_set_at")
