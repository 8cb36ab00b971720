"""Audit-log test helpers: onboardings with valid chains, raw reads, and tampering."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Executable, text

from persistence.store import SqlStore
from workflow.audit import chained
from workflow.ports import AuditEntry, Change, Checkpoint, CheckpointUpdate, NewOnboarding

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

#: (trigger, to_state) after the start: the path to ``brand``, a pause, a retry back, a retry.
STEPS = (
    ("create_profile", "incomplete"),
    ("attach_brand", "brand"),
    ("pause", "needs_attention"),
    ("retry", "brand"),
    ("retry", "brand"),
)


def started(store: SqlStore, key: str, steps: int = 1) -> str:
    """An onboarding whose log is its start row and the first ``steps`` of :data:`STEPS`."""
    checkpoint = Checkpoint(
        id=key.ljust(32, "-")[:32], key=key, fingerprint="f" * 64, spec={"key": key},
        state="pending", version=0, next_attempt_at=NOW, created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    entry = chained(checkpoint, AuditEntry("start", None, "pending", "alice", NOW))
    checkpoint = dataclasses.replace(checkpoint, audit_seq=entry.seq, audit_head=entry.digest)
    ((row, _),) = store.insert_many([NewOnboarding(checkpoint, entry, None)])
    for number, (trigger, state) in enumerate(STEPS[:steps], start=1):
        row = advance(store, row, trigger, state, at=NOW + timedelta(seconds=number))
    return row.id


def advance(
    store: SqlStore, row: Checkpoint, trigger: str, state: str, *, at: datetime = NOW
) -> Checkpoint:
    """Commit one transition of ``row`` as the engine does: checkpoint and chained row."""
    paused_from = row.state if state == "needs_attention" else None
    entry = chained(
        row,
        AuditEntry(
            trigger, row.state, state, "worker:w1", at, reason=f"{trigger} now",
            request_id=f"req_{trigger}", details={"step": trigger, "n": [1, 2]},
            profile_id="prof_1",
        ),
    )  # fmt: skip
    update = CheckpointUpdate(state=state, paused_from=paused_from, profile_id="prof_1")
    return store.apply(Change(row.id, row.version, at, update, entry))


def log_of(store: SqlStore, onboarding_id: str) -> list[dict[str, Any]]:
    """The raw ``transitions`` rows of one onboarding, in order."""
    with store.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT * FROM transitions WHERE onboarding_id = :id ORDER BY seq"),
            {"id": onboarding_id},
        )
        return [dict(row._mapping) for row in rows]


def drop_append_only(store: SqlStore) -> None:
    """Drop the triggers that keep the audit log append-only (what a tamperer would do)."""
    if store.engine.dialect.name == "postgresql":
        statements = [
            "DROP TRIGGER IF EXISTS transitions_append_only ON transitions",
            "DROP TRIGGER IF EXISTS transitions_no_truncate ON transitions",
        ]
    else:
        statements = [
            "DROP TRIGGER IF EXISTS transitions_no_update",
            "DROP TRIGGER IF EXISTS transitions_no_delete",
        ]
    with store.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def tamper(store: SqlStore, statement: str | Executable, **params: Any) -> None:
    """Run ``statement`` against the log with its protecting triggers dropped."""
    drop_append_only(store)
    with store.engine.begin() as connection:
        connection.execute(text(statement) if isinstance(statement, str) else statement, params)
