"""Conversions between table rows and the domain types of :mod:`workflow.ports`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import Table

from persistence.models import (
    OnboardingRow,
    StepAttemptRow,
    StepRecordRow,
    TransitionRow,
)
from workflow.ports import AttemptRecord, AuditEntry, Checkpoint, StepRecord, as_utc

__all__ = [
    "ATTEMPTS",
    "ATTEMPT_KEYS",
    "CHECKPOINT_COLUMNS",
    "ONBOARDINGS",
    "RECORDS",
    "RECORD_KEYS",
    "TRANSITIONS",
    "TRANSITION_KEYS",
    "attempt_values",
    "to_checkpoint",
    "to_record",
    "transition_values",
]

ONBOARDINGS: Final[Table] = OnboardingRow.__table__  # type: ignore[attr-defined]
RECORDS: Final[Table] = StepRecordRow.__table__  # type: ignore[attr-defined]
TRANSITIONS: Final[Table] = TransitionRow.__table__  # type: ignore[attr-defined]
ATTEMPTS: Final[Table] = StepAttemptRow.__table__  # type: ignore[attr-defined]

CHECKPOINT_COLUMNS: Final = tuple(
    column for column in ONBOARDINGS.c if column.name in Checkpoint.__dataclass_fields__
)
_TIMES: Final = frozenset(
    c.name for c in CHECKPOINT_COLUMNS if c.name.endswith("_at") or c.name == "completion_deadline"
)


#: The columns each ``*_values`` function fills, in order (prepared statements are compiled
#: for exactly these).
RECORD_KEYS: Final = (
    "onboarding_id", "generation", "step", "item", "done", "output", "key_seq", "uncertain",
    "may_exist", "first_sent_at", "updated_at",
)  # fmt: skip
TRANSITION_KEYS: Final = (
    "onboarding_id", "seq", "from_state", "to_state", "trigger", "actor", "reason", "at",
    "request_id", "details", "profile_id", "batch_id", "digest",
)  # fmt: skip
ATTEMPT_KEYS: Final = ("onboarding_id", *AttemptRecord.__dataclass_fields__)


def to_checkpoint(row: Any) -> Checkpoint:
    """A checkpoint from a row holding (at least) :data:`CHECKPOINT_COLUMNS`."""
    values = {c.name: row[c.name] for c in CHECKPOINT_COLUMNS}
    for name in _TIMES:
        values[name] = as_utc(values[name])
    return Checkpoint(**values)


def to_record(row: Any) -> StepRecord:
    """A step record from a ``step_records`` row."""
    return StepRecord(
        step=row["step"],
        item=row["item"],
        generation=row["generation"],
        done=bool(row["done"]),
        output=row["output"] or {},
        key_seq=row["key_seq"],
        uncertain=bool(row["uncertain"]),
        may_exist=bool(row["may_exist"]),
        first_sent_at=as_utc(row["first_sent_at"]),
    )


def record_values(onboarding_id: str, record: StepRecord, at: datetime) -> dict[str, Any]:
    """The ``step_records`` row of a record."""
    return {
        "onboarding_id": onboarding_id,
        "generation": record.generation,
        "step": record.step,
        "item": record.item,
        "done": record.done,
        "output": dict(record.output),
        "key_seq": record.key_seq,
        "uncertain": record.uncertain,
        "may_exist": record.may_exist,
        "first_sent_at": record.first_sent_at,
        "updated_at": at,
    }


def transition_values(onboarding_id: str, entry: AuditEntry) -> dict[str, Any]:
    """The ``transitions`` row of an audit entry."""
    return {
        "onboarding_id": onboarding_id,
        "seq": entry.seq,
        "from_state": entry.from_state,
        "to_state": entry.to_state,
        "trigger": entry.trigger,
        "actor": entry.actor,
        "reason": entry.reason,
        "at": entry.at,
        "request_id": entry.request_id,
        "details": dict(entry.details) if entry.details is not None else None,
        "profile_id": entry.profile_id,
        "batch_id": entry.batch_id,
        "digest": entry.digest,
    }


def attempt_values(onboarding_id: str, attempt: AttemptRecord) -> dict[str, Any]:
    """The ``step_attempts`` row of an attempt."""
    return {
        "onboarding_id": onboarding_id,
        **{name: getattr(attempt, name) for name in AttemptRecord.__dataclass_fields__},
    }


def to_entry(row: Any) -> AuditEntry:
    """An audit entry from a ``transitions`` row."""
    return AuditEntry(
        trigger=row["trigger"],
        from_state=row["from_state"],
        to_state=row["to_state"],
        actor=row["actor"],
        at=as_utc(row["at"]),
        reason=row["reason"],
        request_id=row["request_id"],
        details=row["details"],
        profile_id=row["profile_id"],
        batch_id=row["batch_id"],
        seq=row["seq"],
        digest=row["digest"],
    )
