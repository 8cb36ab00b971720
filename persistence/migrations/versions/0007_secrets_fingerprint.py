"""a keyed fingerprint of the secrets an onboarding started with

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 13:30:00

* ``onboardings.secrets_fingerprint``: HMAC-SHA256 of the payment details and WhatsApp token a
  spec carried at start (or at the amend that replaced them), under a key derived from the
  vault key; ``""`` when the spec carried none. ``start`` compares it with a resubmitted spec's,
  so the same file is "already started" after its secrets were sent and deleted.

Rows stored before this revision have none (``NULL``): ``start`` compares with the sealed
secrets while they are held, and takes the same spec as already started once they are gone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


# Plain ALTER TABLE (SQLite 3.35+ drops a column in place): a batch rebuild of ``onboardings``
# would have to recreate 0004's partial indexes by hand.
def upgrade() -> None:
    op.add_column(
        "onboardings", sa.Column("secrets_fingerprint", sa.String(length=64), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("onboardings", "secrets_fingerprint")
