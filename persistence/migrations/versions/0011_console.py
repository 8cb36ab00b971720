"""console users and events; indexes for the console's search, batches and outcomes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 16:00:00

* ``console_users``: who may sign in to ``onboarding console``, with an argon2 hash and a role
  (``viewer``, ``operator``, ``admin``).
* ``console_events``: sign-ins (successful or not), sign-outs and refused requests, append-only
  in practice (nothing updates or deletes them).
* Indexes: ``step_attempts.idempotency_key`` and ``step_attempts.request_id`` (search) and
  ``onboardings (predicted_outcome, actual_outcome)`` (predicted vs actual, index only), and on
  PostgreSQL ``onboardings.key text_pattern_ops`` (key prefixes).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "console_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("user_name", sa.String(length=128), nullable=True),
        sa.Column("remote", sa.String(length=64), nullable=True),
        sa.Column("path", sa.String(length=255), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_console_events_at", "console_events", ["at"])
    op.create_index("ix_step_attempts_idempotency_key", "step_attempts", ["idempotency_key"])
    op.create_index("ix_step_attempts_request_id", "step_attempts", ["request_id"])
    op.create_index(
        "ix_onboardings_outcome", "onboardings", ["predicted_outcome", "actual_outcome"]
    )
    if op.get_bind().dialect.name == "postgresql":
        # Key prefixes as LIKE 'p%' whatever the database's collation (SQLite's BINARY
        # comparisons let the unique key index serve a prefix as a range).
        op.create_index(
            "ix_onboardings_key_pattern", "onboardings", ["key"],
            postgresql_ops={"key": "text_pattern_ops"},
        )  # fmt: skip


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_onboardings_key_pattern", table_name="onboardings")
    op.drop_index("ix_onboardings_outcome", table_name="onboardings")
    op.drop_index("ix_step_attempts_request_id", table_name="step_attempts")
    op.drop_index("ix_step_attempts_idempotency_key", table_name="step_attempts")
    op.drop_index("ix_console_events_at", table_name="console_events")
    op.drop_table("console_events")
    op.drop_table("console_users")
