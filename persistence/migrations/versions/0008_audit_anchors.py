"""audit anchors, and INSERT OR REPLACE refused on the audit log

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 12:00:00

* ``onboardings.audit_anchor``: the HMAC of the onboarding's audit chain head under a key kept
  outside the database (``workflow/core/audit_chain.py``). Existing onboardings get ``''`` (not anchored):
  ``onboarding db upgrade`` anchors them when it has the key, after checking each log, and
  ``onboarding audit anchor`` does it later otherwise.
* SQLite: the ``transitions_no_replace`` trigger refuses an insert over an existing row
  (``INSERT OR REPLACE`` would delete that row without firing the ``DELETE`` trigger); any of
  the append-only triggers that is missing is created again (``persistence/guards.py``, which
  ``db upgrade`` also runs on every upgrade).

Downgrading drops the column and that trigger.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from persistence.guards import restore_guards

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "onboardings",
        sa.Column("audit_anchor", sa.String(length=64), nullable=False, server_default=""),
    )
    restore_guards(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS transitions_no_replace")
    # Native on both (SQLite 3.35+): batch mode would rebuild the table, which the foreign
    # keys pointing at it refuse.
    op.execute("ALTER TABLE onboardings DROP COLUMN audit_anchor")
