"""The expiry for which a grant's holder and publisher were last told to re-certify it
(issue 18: each grant is announced once per expiry date, again when it is extended).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("recertify_notified_for", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.drop_column("recertify_notified_for")
