"""Provenance and signed heads: ``sender`` and ``provenance`` on every record, the
``audit_anchors`` table, and the chain re-hashed with RFC 8785 (JCS).

The records stored before this revision were hashed over sorted-key compact JSON without
a sender. The upgrade first verifies that chain with that rule and refuses to go on if it
is broken (re-hashing would hide the edit: verify it with the previous release and keep
the evidence); a sound chain is then hashed again with the rules of
:mod:`splp.audit.chain`, with ``sender`` and ``provenance`` null (unknown before this
revision).

Revision ID: a0002
Revises: a0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

from splp.audit.chain import GENESIS, record_hash

revision = "a0002"
down_revision = "a0001"
branch_labels = None
depends_on = None

PAGE = 5000


def upgrade() -> None:
    with op.batch_alter_table("audit_records") as batch:
        batch.add_column(sa.Column("sender", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("provenance", sa.Text(), nullable=True))
    op.create_table(
        "audit_anchors",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            autoincrement=True,
        ),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_anchors")),
    )
    op.create_index(op.f("ix_audit_anchors_seq"), "audit_anchors", ["seq"])
    _rehash(op.get_bind())


def _legacy_hash(event: Any, seq: int, prev_hash: str, flag: str | None) -> str:
    canonical = orjson.dumps(
        {"event": event, "flag": flag, "prev_hash": prev_hash, "seq": seq},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


def _rehash(bind: sa.Connection) -> None:
    old_prev, new_prev, expected, last = GENESIS, GENESIS, 1, 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT seq, event, flag, prev_hash, hash FROM audit_records "
                "WHERE seq > :last ORDER BY seq LIMIT :page"
            ),
            {"last": last, "page": PAGE},
        ).all()
        if not rows:
            return
        updates = []
        for seq, text, flag, prev_hash, digest in rows:
            event = orjson.loads(text)
            if (
                seq != expected
                or prev_hash != old_prev
                or _legacy_hash(event, seq, prev_hash, flag) != digest
            ):
                raise RuntimeError(
                    f"audit record {seq} does not verify: the chain was edited before this "
                    "upgrade; run `splp audit verify` with the previous release and keep the "
                    "store as evidence instead of migrating it"
                )
            new_hash = record_hash(event, seq, new_prev, flag)
            updates.append({"s": seq, "p": new_prev, "h": new_hash})
            old_prev, new_prev, expected = digest, new_hash, expected + 1
        bind.execute(
            sa.text("UPDATE audit_records SET prev_hash = :p, hash = :h WHERE seq = :s"), updates
        )
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_anchors_seq"), table_name="audit_anchors")
    op.drop_table("audit_anchors")
    with op.batch_alter_table("audit_records") as batch:
        batch.drop_column("provenance")
        batch.drop_column("sender")
