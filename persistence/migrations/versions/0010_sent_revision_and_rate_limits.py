"""the Sent API revision per onboarding, shared rate limits, replayed answers

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 16:00:00

* ``onboardings.sent_api``: the Sent API revision an onboarding started under; existing rows
  started under ``2026-03`` (the seeds' contract), the only one earlier releases spoke.
* ``onboardings.rate_class`` / ``rate_slot_at``: the endpoint class an onboarding waits on for
  a slot, and the slot it holds.
* ``step_attempts.replayed``: Sent answered ``Idempotent-Replayed: true``.
* ``rate_limits``: one row per endpoint class, the pace every worker on the database shares.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "onboardings",
        sa.Column("sent_api", sa.String(length=16), nullable=False, server_default="2026-03"),
    )
    op.add_column("onboardings", sa.Column("rate_class", sa.String(length=32), nullable=True))
    op.add_column(
        "onboardings", sa.Column("rate_slot_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "step_attempts",
        sa.Column("replayed", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "rate_limits",
        sa.Column("endpoint_class", sa.String(length=32), primary_key=True),
        sa.Column("next_free_at", sa.Float(), nullable=False, server_default="0"),
        sa.Column("blocked_until", sa.Float(), nullable=False, server_default="0"),
        sa.Column("granted", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("throttled", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("rate_limits")
    # Native on both (SQLite 3.35+): batch mode would rebuild the tables, which the foreign
    # keys pointing at them refuse.
    op.execute("ALTER TABLE step_attempts DROP COLUMN replayed")
    for column in ("rate_slot_at", "rate_class", "sent_api"):
        op.execute(f"ALTER TABLE onboardings DROP COLUMN {column}")
