"""transition outbox and subscriber cursors

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-01 10:00:00

* ``outbox``: every transition, written in the transaction that makes it, for subscribers
  (embedding services, webhooks). ``tx_id`` is the writing transaction's id on PostgreSQL (0 on
  SQLite), read in ``(tx_id, id)`` order (see ``persistence/outbox.py``); ids are never reused.
* ``outbox_cursors``: each named subscriber's position.

Transitions made before this revision are not published: the outbox starts empty.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
            autoincrement=True,
        ),
        sa.Column("tx_id", sa.BigInteger(), nullable=False),
        sa.Column("onboarding_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("profile_id", sa.String(length=64), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=32), nullable=True),
        sa.Column("to_state", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.UniqueConstraint("onboarding_id", "seq", name="uq_outbox_seq"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outbox_position", "outbox", ["tx_id", "id"])
    op.create_index("ix_outbox_at", "outbox", ["at"])
    op.create_table(
        "outbox_cursors",
        sa.Column("subscriber", sa.String(length=128), primary_key=True),
        sa.Column("tx_id", sa.BigInteger(), nullable=False),
        sa.Column("event_pk", sa.BigInteger(), nullable=False),
        sa.Column("delivered", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("outbox_cursors")
    op.drop_index("ix_outbox_at", table_name="outbox")
    op.drop_index("ix_outbox_position", table_name="outbox")
    op.drop_table("outbox")
