"""typed step records, flow versions, chained audit rows

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 15:00:00

* ``step_records`` replaces the free-form ``onboardings.progress``: each onboarding's progress is
  converted (the created profile, each created campaign, the channel PATCH, the prerequisite
  facts), then the column is dropped.
* ``onboardings`` gains ``flow_version``, ``wake_on_callback``, ``nudged_at``, ``audit_seq``,
  ``audit_head`` and ``created_by``; the claim index is on ``next_attempt_at`` alone (a runnable
  row is one with a next attempt).
* ``transitions`` gains ``profile_id``, ``batch_id`` and ``digest``; existing rows are numbered
  and chained as the audit module does (the function is copied here, frozen, as migrations must
  not change when the code does).
* ``step_attempts`` gains ``item``, ``generation`` and ``resource_id``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
_CREATE_KEYS = ("profile_id",)


def _when(moment: Any) -> str:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _digest(onboarding_id: str, row: Any, previous: str) -> str:
    details = row.details
    if isinstance(details, str):
        details = json.loads(details)
    content = [
        onboarding_id, row.seq, row.trigger, row.from_state, row.to_state, row.actor,
        _when(row.at), row.reason, row.request_id, details, None, None, previous,
    ]  # fmt: skip
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def upgrade() -> None:
    op.create_table(
        "step_records",
        sa.Column("onboarding_id", sa.String(length=32), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("item", sa.String(length=64), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("output", sa.JSON(), nullable=False),
        sa.Column("key_seq", sa.Integer(), nullable=False),
        sa.Column("uncertain", sa.Boolean(), nullable=False),
        sa.Column("may_exist", sa.Boolean(), nullable=False),
        sa.Column("first_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["onboarding_id"], ["onboardings.id"]),
        sa.PrimaryKeyConstraint("onboarding_id", "generation", "step", "item"),
    )
    with op.batch_alter_table("onboardings") as batch:
        batch.add_column(sa.Column("flow_version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("wake_on_callback", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("nudged_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("audit_seq", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("audit_head", sa.String(length=64), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("created_by", sa.String(length=128), nullable=True))
        batch.drop_index("ix_onboardings_due")
        batch.create_index("ix_onboardings_next_attempt_at", ["next_attempt_at"])
    with op.batch_alter_table("transitions") as batch:
        batch.add_column(sa.Column("profile_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("batch_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("digest", sa.String(length=64), nullable=False, server_default=""))
    with op.batch_alter_table("step_attempts") as batch:
        batch.add_column(sa.Column("item", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("generation", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("resource_id", sa.String(length=64), nullable=True))
        batch.alter_column("step", type_=sa.String(length=64))

    _convert_progress()
    _chain_transitions()

    with op.batch_alter_table("onboardings") as batch:
        batch.drop_column("progress")


def _convert_progress() -> None:
    bind = op.get_bind()
    onboardings = sa.table(
        "onboardings",
        sa.column("id", sa.String), sa.column("state", sa.String),
        sa.column("profile_id", sa.String), sa.column("generation", sa.Integer),
        sa.column("progress", sa.JSON), sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("wake_on_callback", sa.Boolean),
    )  # fmt: skip
    records = sa.table(
        "step_records",
        *(sa.column(name) for name in ("onboarding_id", "generation", "step", "item")),
        sa.column("done", sa.Boolean), sa.column("output", sa.JSON),
        sa.column("key_seq", sa.Integer), sa.column("uncertain", sa.Boolean),
        sa.column("may_exist", sa.Boolean), sa.column("updated_at", sa.DateTime(timezone=True)),
    )  # fmt: skip
    rows = []
    for row in bind.execute(sa.select(onboardings)).all():
        progress = row.progress if isinstance(row.progress, dict) else json.loads(row.progress or "{}")
        common = {"onboarding_id": row.id, "generation": row.generation, "key_seq": 0,
                  "uncertain": False, "may_exist": False, "updated_at": row.updated_at, "done": True}  # fmt: skip
        if row.profile_id:
            rows.append({**common, "step": "create_profile", "item": "profile",
                         "output": {"profile_id": row.profile_id}})  # fmt: skip
        for index, campaign_id in (progress.get("campaign_ids") or {}).items():
            rows.append({**common, "step": "attach_campaigns", "item": f"campaign-{index}",
                         "output": {"campaign_id": campaign_id}})  # fmt: skip
        if progress.get("channels_done"):
            rows.append({**common, "step": "request_completion", "item": "channels",
                         "output": {}})  # fmt: skip
        if progress.get("completion_facts"):
            rows.append({**common, "step": "request_completion", "item": "facts",
                         "output": {"facts": progress["completion_facts"]}})  # fmt: skip
    if rows:
        bind.execute(sa.insert(records), rows)
    bind.execute(
        sa.update(onboardings).where(onboardings.c.state == "complete").values(wake_on_callback=True)
    )


def _chain_transitions() -> None:
    bind = op.get_bind()
    transitions = sa.table(
        "transitions",
        sa.column("id", sa.Integer), sa.column("onboarding_id", sa.String),
        sa.column("seq", sa.Integer), sa.column("from_state", sa.String),
        sa.column("to_state", sa.String), sa.column("trigger", sa.String),
        sa.column("actor", sa.String), sa.column("reason", sa.String),
        sa.column("at", sa.DateTime(timezone=True)), sa.column("request_id", sa.String),
        sa.column("details", sa.JSON), sa.column("digest", sa.String),
    )  # fmt: skip
    onboardings = sa.table(
        "onboardings", sa.column("id", sa.String), sa.column("audit_seq", sa.Integer),
        sa.column("audit_head", sa.String),
    )  # fmt: skip
    heads: dict[str, tuple[int, str]] = {}
    query = sa.select(transitions).order_by(transitions.c.onboarding_id, transitions.c.seq)
    for row in bind.execute(query).all():
        _, previous = heads.get(row.onboarding_id, (0, GENESIS))
        digest = _digest(row.onboarding_id, row, previous)
        bind.execute(
            sa.update(transitions).where(transitions.c.id == row.id).values(digest=digest)
        )
        heads[row.onboarding_id] = (row.seq, digest)
    for onboarding_id, (seq, head) in heads.items():
        bind.execute(
            sa.update(onboardings)
            .where(onboardings.c.id == onboarding_id)
            .values(audit_seq=seq, audit_head=head)
        )


def downgrade() -> None:
    with op.batch_alter_table("onboardings") as batch:
        batch.add_column(sa.Column("progress", sa.JSON(), nullable=False, server_default="{}"))
        batch.drop_index("ix_onboardings_next_attempt_at")
        batch.create_index("ix_onboardings_due", ["state", "next_attempt_at"])
        for name in (
            "created_by", "audit_head", "audit_seq", "nudged_at", "wake_on_callback",
            "flow_version",
        ):  # fmt: skip
            batch.drop_column(name)
    with op.batch_alter_table("transitions") as batch:
        for name in ("digest", "batch_id", "profile_id"):
            batch.drop_column(name)
    with op.batch_alter_table("step_attempts") as batch:
        for name in ("resource_id", "generation", "item"):
            batch.drop_column(name)
    op.drop_table("step_records")
