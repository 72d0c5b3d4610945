"""The expiry a requester asks for in its access request, and when an application's client
secret was last rotated (issue 15, the portal's application form and credentials page).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_wanted", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_column("secret_rotated_at")
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.drop_column("expires_wanted")
