"""The tables. Only these ``*Row`` classes touch the database.

``OnboardingRow`` is the checkpoint (one row per onboarding, guarded by ``version``);
``StepRecordRow`` holds each sub-step's output per (onboarding, generation, step, item);
``TransitionRow`` is the append-only, hash-chained audit log; ``StepAttemptRow`` records every
API attempt; ``CallbackEventRow`` every accepted completion callback; ``SecretRow`` holds sealed
secrets until the step that sends them succeeds; ``OutboxRow`` publishes every transition to
subscribers, each of which keeps its position in an ``OutboxCursorRow``.

Nothing here names a workflow state: a row is runnable when ``next_attempt_at`` is set, and a
callback wakes it when ``wake_on_callback`` is true.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    text,
)
from sqlmodel import Field, SQLModel

from persistence.partial_indexes import on_create
from workflow.ports import as_utc

__all__ = [
    "BatchRow",
    "CallbackEventRow",
    "ConsoleEventRow",
    "ConsoleUserRow",
    "OnboardingRow",
    "OutboxCursorRow",
    "OutboxRow",
    "RateLimitRow",
    "SecretRow",
    "StepAttemptRow",
    "StepRecordRow",
    "StuckCountRow",
    "TransitionRow",
    "UtcDateTime",
]


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time, stored in UTC and read back aware (UTC).

    SQLite keeps times as text without an offset: a time given in another zone would otherwise
    be stored as its wall-clock reading and read back as that reading in UTC, hours off.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return as_utc(value)


def _when(**kwargs: Any) -> Any:
    return Field(sa_column=Column(UtcDateTime(), **kwargs))


def _json(**kwargs: Any) -> Any:
    return Field(sa_column=Column(JSON, **kwargs))


# A partial index's predicate is declared for SQLite (``sqlite_where``); PostgreSQL takes the same
# one, declared once PostgreSQL is used (see persistence.partial_indexes).
event.listen(SQLModel.metadata, "before_create", on_create)


class OnboardingRow(SQLModel, table=True):
    """The checkpoint of one onboarding."""

    __tablename__ = "onboardings"
    __table_args__ = (
        Index("ix_onboardings_next_attempt_at", "next_attempt_at"),
        # The operator reads (migration 0004): ``stuck`` from the unfinished rows alone, and
        # ``list`` in creation order, with or without a state.
        Index(
            "ix_onboardings_unfinished", "next_attempt_at", "lease_owner", "lease_expires_at",
            "attempts", "wake_on_callback", "updated_at", "step_started_at", "audit_seq", "state",
            "id", sqlite_where=text("finished_at IS NULL"),
        ),
        Index("ix_onboardings_created", "created_at", "id"),
        Index("ix_onboardings_state_created", "state", "created_at", "id"),
        # ``--worker W``: the leases held now (migration 0009). Two indexes of that migration
        # are on an expression of ``last_error`` written per dialect, so they live in the
        # migration alone: ``ix_onboardings_paused_code`` and ``ix_onboardings_code``.
        Index(
            "ix_onboardings_leased", "lease_expires_at", "next_attempt_at", "state",
            sqlite_where=text("lease_owner IS NOT NULL AND finished_at IS NULL"),
        ),
        # The console's predicted vs actual outcomes, counted from the index (migration 0011).
        # Its PostgreSQL-only ``ix_onboardings_key_pattern`` (key prefixes) is in the migration
        # alone: SQLite's unique key index serves a prefix as a range.
        Index("ix_onboardings_outcome", "predicted_outcome", "actual_outcome"),
    )  # fmt: skip

    id: str = Field(primary_key=True, max_length=32)
    key: str = Field(unique=True, index=True, max_length=255)
    fingerprint: str = Field(max_length=64)
    spec: dict[str, Any] = _json(nullable=False)
    state: str = Field(max_length=32, index=True)
    paused_from: str | None = Field(default=None, max_length=32)
    profile_id: str | None = Field(default=None, max_length=64, index=True)
    generation: int = 0
    flow_version: int = 1
    attempts: int = 0
    next_attempt_at: datetime | None = _when(nullable=True)
    step_started_at: datetime | None = _when(nullable=True)
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = _when(nullable=True)
    version: int = 0
    last_error: dict[str, Any] | None = _json(nullable=True)
    predicted_outcome: str | None = Field(default=None, max_length=16)
    predicted_rule: int | None = None
    actual_outcome: str | None = Field(default=None, max_length=16)
    completion_deadline: datetime | None = _when(nullable=True)
    has_secrets: bool = False
    secrets_fingerprint: str | None = Field(default=None, max_length=64)
    wake_on_callback: bool = False
    nudged_at: datetime | None = _when(nullable=True)
    audit_seq: int = 0
    audit_head: str = Field(default="", max_length=64)
    audit_anchor: str = Field(default="", max_length=64)
    created_by: str | None = Field(default=None, max_length=128)
    created_at: datetime = _when(nullable=False)
    updated_at: datetime = _when(nullable=False)
    finished_at: datetime | None = _when(nullable=True)
    sent_api: str = Field(default="2026-03", max_length=16)
    rate_class: str | None = Field(default=None, max_length=32)
    rate_slot_at: datetime | None = _when(nullable=True)


class StepRecordRow(SQLModel, table=True):
    """What one item of one step achieved in one generation (written, replaced, never read
    across generations except when a rewind forks them)."""

    __tablename__ = "step_records"

    onboarding_id: str = Field(foreign_key="onboardings.id", primary_key=True, max_length=32)
    generation: int = Field(primary_key=True)
    step: str = Field(primary_key=True, max_length=64)
    item: str = Field(primary_key=True, max_length=64)
    done: bool = False
    output: dict[str, Any] = _json(nullable=False)
    key_seq: int = 0
    uncertain: bool = False
    may_exist: bool = False
    first_sent_at: datetime | None = _when(nullable=True)
    updated_at: datetime = _when(nullable=False)


class TransitionRow(SQLModel, table=True):
    """One audited transition; rows are only ever inserted."""

    __tablename__ = "transitions"
    __table_args__ = (
        UniqueConstraint("onboarding_id", "seq", name="uq_transitions_seq"),
        Index("ix_transitions_at", "at"),  # ``export --since/--until``
        Index(  # ``export --batch`` (migration 0009)
            "ix_transitions_batch",
            "batch_id",
            sqlite_where=text("batch_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    onboarding_id: str = Field(foreign_key="onboardings.id", index=True, max_length=32)
    seq: int
    from_state: str | None = Field(default=None, max_length=32)
    to_state: str = Field(max_length=32)
    trigger: str = Field(max_length=32)
    actor: str = Field(max_length=128)
    reason: str | None = None
    at: datetime = _when(nullable=False)
    request_id: str | None = Field(default=None, max_length=64)
    details: dict[str, Any] | None = _json(nullable=True)
    profile_id: str | None = Field(default=None, max_length=64)
    batch_id: str | None = Field(default=None, max_length=32)
    digest: str = Field(default="", max_length=64)


class StepAttemptRow(SQLModel, table=True):
    """One API call made by a step, successful or not."""

    __tablename__ = "step_attempts"
    __table_args__ = (
        Index("ix_step_attempts_resource_id", "resource_id"),
        Index("ix_step_attempts_at", "at"),  # ``export --since/--until``
        # The console's search by Idempotency-Key and Sent's request id (migration 0011).
        Index("ix_step_attempts_idempotency_key", "idempotency_key"),
        Index("ix_step_attempts_request_id", "request_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    onboarding_id: str = Field(foreign_key="onboardings.id", index=True, max_length=32)
    step: str = Field(max_length=64)
    item: str | None = Field(default=None, max_length=64)
    generation: int = 0
    attempt: int
    idempotency_key: str | None = Field(default=None, max_length=255)
    method: str = Field(max_length=8)
    path: str = Field(max_length=255)
    http_status: int | None = None
    error_code: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=64)
    latency_ms: float
    outcome: str = Field(max_length=16)
    message: str | None = None
    resource_id: str | None = Field(default=None, max_length=64)
    content_digest: str | None = Field(default=None, max_length=64)
    replayed: bool = False
    at: datetime = _when(nullable=False)


class RateLimitRow(SQLModel, table=True):
    """The shared pace of one endpoint class at Sent: the next free slot, and until when a 429
    holds the whole class back (seconds since the epoch)."""

    __tablename__ = "rate_limits"

    endpoint_class: str = Field(primary_key=True, max_length=32)
    next_free_at: float = 0.0
    blocked_until: float = 0.0
    granted: int = 0
    throttled: int = 0


class CallbackEventRow(SQLModel, table=True):
    """A completion callback that passed authentication."""

    __tablename__ = "callback_events"

    id: int | None = Field(default=None, primary_key=True)
    onboarding_id: str = Field(foreign_key="onboardings.id", index=True, max_length=32)
    webhook_id: str | None = Field(default=None, max_length=128, unique=True)
    received_at: datetime = _when(nullable=False)
    status: str | None = Field(default=None, max_length=32)
    payload: dict[str, Any] | None = _json(nullable=True)


class SecretRow(SQLModel, table=True):
    """Sealed secrets of one onboarding, deleted once sent (or when it ends)."""

    __tablename__ = "secrets"

    onboarding_id: str = Field(foreign_key="onboardings.id", primary_key=True, max_length=32)
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = _when(nullable=False)


#: A 64-bit id on PostgreSQL; SQLite's ``INTEGER PRIMARY KEY`` is 64 bits already (and only that
#: exact type name makes it the rowid, which ``AUTOINCREMENT`` needs).
_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class OutboxRow(SQLModel, table=True):
    """A transition published to subscribers, written in the transition's own transaction.

    Subscribers read in ``(tx_id, id)`` order (see :mod:`persistence.outbox`); ids are never
    reused (``AUTOINCREMENT`` on SQLite), so a pruned table never hands out a position again.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("onboarding_id", "seq", name="uq_outbox_seq"),
        Index("ix_outbox_position", "tx_id", "id"),
        Index("ix_outbox_at", "at"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(
        default=None, sa_column=Column(_BIG_ID, primary_key=True, autoincrement=True)
    )
    tx_id: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    onboarding_id: str = Field(max_length=32)
    key: str = Field(max_length=255)
    profile_id: str | None = Field(default=None, max_length=64)
    seq: int
    trigger: str = Field(max_length=32)
    from_state: str | None = Field(default=None, max_length=32)
    to_state: str = Field(max_length=32)
    actor: str = Field(max_length=128)
    reason: str | None = None
    at: datetime = _when(nullable=False)
    batch_id: str | None = Field(default=None, max_length=32)
    request_id: str | None = Field(default=None, max_length=64)
    details: dict[str, Any] | None = _json(nullable=True)


class OutboxCursorRow(SQLModel, table=True):
    """How far one named subscriber has handled the outbox (it only moves forward)."""

    __tablename__ = "outbox_cursors"

    subscriber: str = Field(primary_key=True, max_length=128)
    tx_id: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    event_pk: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    delivered: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _when(nullable=False)
    updated_at: datetime = _when(nullable=False)


class StuckCountRow(SQLModel, table=True):
    """How many unfinished onboardings there are per (state, code, kind), kept by triggers on
    ``onboardings`` (``persistence/counts.py``); never written by the code."""

    __tablename__ = "stuck_counts"

    state: str = Field(primary_key=True, max_length=32)
    code: str = Field(sa_column=Column(Text, primary_key=True))
    kind: str = Field(primary_key=True, max_length=16)
    count: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class BatchRow(SQLModel, table=True):
    """One bulk action: who, why, what, the selection as typed, and what it did."""

    __tablename__ = "batches"

    id: str = Field(primary_key=True, max_length=32)
    actor: str = Field(max_length=128)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    action: str = Field(max_length=16)
    selection: str = Field(sa_column=Column(Text, nullable=False))
    matched: int = 0
    changed: int = 0
    skipped: int = 0
    started_at: datetime = _when(nullable=False, index=True)
    finished_at: datetime | None = _when(nullable=True)


class ConsoleUserRow(SQLModel, table=True):
    """Who may sign in to the console: an argon2 hash, never the password, and a role."""

    __tablename__ = "console_users"

    name: str = Field(primary_key=True, max_length=64)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16)
    created_at: datetime = _when(nullable=False)


class ConsoleEventRow(SQLModel, table=True):
    """A console sign-in (or a failed one), a sign-out or a refused request."""

    __tablename__ = "console_events"
    __table_args__ = (Index("ix_console_events_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when(nullable=False)
    kind: str = Field(max_length=32)
    user_name: str | None = Field(default=None, max_length=128)
    remote: str | None = Field(default=None, max_length=64)
    path: str | None = Field(default=None, max_length=255)
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
