"""worker heartbeats, indexes for the operator reads

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01 10:00:00

* ``workers``: one row per worker process, upserted by its heartbeat (``onboarding workers``).
* ``ix_onboardings_unfinished``: a partial, covering index over the onboardings not yet
  finished (paused, runnable or waiting) holding every column that tells why one is stuck, so
  ``onboarding stuck`` reads neither finished rows nor table rows. No workflow state is named:
  "unfinished" is ``finished_at IS NULL``.
* ``ix_onboardings_created`` and ``ix_onboardings_state_created``: the order of
  ``onboarding list`` (oldest first, by id within the same instant), so a page is an index
  range, with or without ``--state``.
* ``ix_transitions_at`` and ``ix_step_attempts_at``: ``onboarding export --since/--until``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_UNFINISHED = sa.text("finished_at IS NULL")
#: Everything ``stuck`` needs to tell an onboarding's cause, so it never reads the table rows
#: (each holds a whole spec) except for the few it shows.
_CAUSE_COLUMNS = (
    "next_attempt_at", "lease_owner", "lease_expires_at", "attempts", "wake_on_callback",
    "updated_at", "step_started_at", "audit_seq", "state", "id",
)


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("in_flight", sa.Integer(), nullable=False),
        sa.Column("heartbeat_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_workers_last_seen", "workers", ["last_seen"])
    op.create_index(
        "ix_onboardings_unfinished", "onboardings", list(_CAUSE_COLUMNS),
        sqlite_where=_UNFINISHED, postgresql_where=_UNFINISHED,
    )  # fmt: skip
    op.create_index("ix_onboardings_created", "onboardings", ["created_at", "id"])
    op.create_index("ix_onboardings_state_created", "onboardings", ["state", "created_at", "id"])
    op.create_index("ix_transitions_at", "transitions", ["at"])
    op.create_index("ix_step_attempts_at", "step_attempts", ["at"])


def downgrade() -> None:
    op.drop_index("ix_step_attempts_at", table_name="step_attempts")
    op.drop_index("ix_transitions_at", table_name="transitions")
    op.drop_index("ix_onboardings_state_created", table_name="onboardings")
    op.drop_index("ix_onboardings_created", table_name="onboardings")
    op.drop_index("ix_onboardings_unfinished", table_name="onboardings")
    op.drop_index("ix_workers_last_seen", table_name="workers")
    op.drop_table("workers")
