"""what each create attempt sent, and who holds a resource id

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10 10:00:00

* ``step_attempts.content_digest``: a digest of the non-secret content a create sent (a
  profile's name, short name and description; a campaign's name, description and type), so a
  create whose reply was lost can later be told apart from another onboarding's resource with
  the same content. Never a secret.
* ``ix_step_attempts_resource_id``: which onboarding holds a resource id Sent answered.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("step_attempts") as batch:
        batch.add_column(sa.Column("content_digest", sa.String(length=64), nullable=True))
    op.create_index("ix_step_attempts_resource_id", "step_attempts", ["resource_id"])


def downgrade() -> None:
    op.drop_index("ix_step_attempts_resource_id", table_name="step_attempts")
    with op.batch_alter_table("step_attempts") as batch:
        batch.drop_column("content_digest")
