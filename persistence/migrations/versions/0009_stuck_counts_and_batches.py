"""counts of unfinished onboardings kept by triggers, and the batches of bulk actions

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 16:00:00

* ``stuck_counts``: how many unfinished onboardings there are per ``(state, code, kind)``,
  where ``kind`` is ``paused`` (nothing scheduled: ``next_attempt_at IS NULL``; ``code`` is
  ``last_error.code``, ``''`` without one) or ``runnable`` (``code`` is ``''``). Triggers on
  ``onboardings`` keep it in the same transaction as the change (on PostgreSQL deferred to the
  commit, so the count rows are locked only for its last moment), so ``stuck --summary``
  reads counts instead of counting a million rows. Filled here from the rows that exist.
* ``ix_onboardings_paused_code``: the paused rows by code, state and ``updated_at``, so the
  oldest of each group is one index probe; ``ix_onboardings_leased``: the unfinished rows under a
  lease (expired or not) by expiry, so they are counted from the index alone.
* ``ix_onboardings_code``: the rows with an error code, by code, in ``list`` order, so a page
  of ``list --code`` is an index range.
* ``batches``: one row per bulk action (who, why, what, the selection as typed, how many
  matched, changed and were skipped, when it started and finished);
  ``ix_transitions_batch``: the audit rows of one batch (``export --batch``).

Downgrading drops them all.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from persistence.counts import (
    PG_FUNCTION,
    PG_TRIGGERS,
    SQLITE_TRIGGERS,
    TRIGGER_NAMES,
    code_expression,
    refill,
)

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_PAUSED = sa.text("finished_at IS NULL AND next_attempt_at IS NULL")
_LEASED = sa.text("lease_owner IS NOT NULL AND finished_at IS NULL")


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    op.create_table(
        "stuck_counts",
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("state", "code", "kind"),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("selection", sa.Text(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_batches_started_at", "batches", ["started_at"])
    op.create_index(
        "ix_transitions_batch", "transitions", ["batch_id"],
        sqlite_where=sa.text("batch_id IS NOT NULL"),
        postgresql_where=sa.text("batch_id IS NOT NULL"),
    )  # fmt: skip
    op.execute(
        f"CREATE INDEX ix_onboardings_paused_code ON onboardings "
        f"(({code_expression(postgres)}), state, updated_at) WHERE {_PAUSED}"
    )
    code = code_expression(postgres)
    op.execute(
        f"CREATE INDEX ix_onboardings_code ON onboardings (({code}), created_at, id) "
        f"WHERE ({code}) IS NOT NULL"
    )
    op.create_index(
        "ix_onboardings_leased", "onboardings", ["lease_expires_at", "next_attempt_at", "state"],
        sqlite_where=_LEASED, postgresql_where=_LEASED,
    )  # fmt: skip
    if postgres:
        op.execute(PG_FUNCTION)
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    refill(bind)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON onboardings" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS onboardings_count_stuck()")
    op.drop_index("ix_onboardings_leased", table_name="onboardings")
    op.drop_index("ix_onboardings_code", table_name="onboardings")
    op.drop_index("ix_onboardings_paused_code", table_name="onboardings")
    op.drop_index("ix_transitions_batch", table_name="transitions")
    op.drop_index("ix_batches_started_at", table_name="batches")
    op.drop_table("batches")
    op.drop_table("stuck_counts")
