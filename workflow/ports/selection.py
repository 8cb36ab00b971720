"""What choosing many onboardings at once hands the store, and what it gets back."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from workflow.ports.store import Checkpoint

__all__ = ["BatchRecord", "Selected", "SelectionStore", "Selector", "worker_actor"]


def worker_actor(worker: str) -> str:
    """The audit log's actor for a worker's own transitions (``Worker`` writes this)."""
    return f"worker:{worker}"


@dataclass(frozen=True, slots=True)
class Selector:
    """Which onboardings to act on; an empty filter does not constrain.

    Attributes:
        states: in one of these states.
        paused_from: paused from one of these states.
        codes: ``last_error.code`` is one of these (the pause code; while a step retries, the
            code of its last failure).
        updated_before: not updated since this moment.
        key_prefix: the key starts with this text (case-sensitive).
        worker: the worker whose lease the onboarding is under now (a crashed worker's
            expired lease included, until another worker takes it over).
        actor: whose transition is the newest audit row (an operator, ``worker:W``, ``api``).
        batch_id: one of its audit rows carries this batch id.
        created_since: created at or after this moment.
        created_until: created before this moment.
        ids: only these onboarding ids (used to re-check a selection before acting).
        applicable: ``(state, paused_from)`` pairs the action applies to (set by the bulk
            action from the machine table; ``None``: any).
    """

    states: frozenset[str] = frozenset()
    paused_from: frozenset[str] = frozenset()
    codes: frozenset[str] = frozenset()
    updated_before: datetime | None = None
    key_prefix: str | None = None
    worker: str | None = None
    actor: str | None = None
    batch_id: str | None = None
    created_since: datetime | None = None
    created_until: datetime | None = None
    ids: frozenset[str] = frozenset()
    applicable: frozenset[tuple[str, str | None]] | None = field(default=None)

    @property
    def has_filter(self) -> bool:
        """Whether an operator's filter is set (``applicable`` and ``ids`` do not count)."""
        return bool(
            self.states
            or self.paused_from
            or self.codes
            or self.updated_before is not None
            or self.key_prefix
            or self.worker
            or self.actor
            or self.batch_id
            or self.created_since is not None
            or self.created_until is not None
        )

    def describe(self) -> str:
        """The filters in the operator's words, for messages and the audit log."""
        parts = [f"state={s}" for s in sorted(self.states)]
        parts += [f"paused_from={s}" for s in sorted(self.paused_from)]
        parts += [f"code={c}" for c in sorted(self.codes)]
        if self.updated_before is not None:
            parts.append(f"updated before {self.updated_before.isoformat()}")
        if self.key_prefix:
            parts.append(f"key prefix {self.key_prefix!r}")
        if self.worker:
            parts.append(f"worker {self.worker!r}")
        if self.actor:
            parts.append(f"last actor {self.actor!r}")
        if self.batch_id:
            parts.append(f"batch {self.batch_id}")
        if self.created_since is not None:
            parts.append(f"created from {self.created_since.isoformat()}")
        if self.created_until is not None:
            parts.append(f"created before {self.created_until.isoformat()}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Selected:
    """One selected onboarding, as much as a preview shows."""

    id: str
    key: str
    state: str
    paused_from: str | None
    code: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One bulk action as ``onboarding batches`` lists it.

    Attributes:
        selection: the filters as the operator typed them (or the selector described).
        matched: how many onboardings the selection matched (that the action applies to).
        changed: how many the action changed (each with an audit row carrying ``id``).
        skipped: how many changed since the selection and were left alone.
        finished_at: ``None`` while it runs (or when it stopped on an error).
    """

    id: str
    actor: str
    reason: str
    action: str
    selection: str
    matched: int
    started_at: datetime
    changed: int = 0
    skipped: int = 0
    finished_at: datetime | None = None


class SelectionStore(Protocol):
    """What a bulk action needs from the store beside :class:`~workflow.ports.ManagementStore`."""

    def iter_selected(
        self, selector: Selector, *, page_size: int = 1000
    ) -> Generator[Selected, None, None]:
        """Every matching onboarding, oldest first, fetched a page of rows at a time."""
        ...

    def count_selected(self, selector: Selector) -> int:
        """How many onboardings match ``selector``."""
        ...

    def selected_checkpoints(self, selector: Selector, ids: Sequence[str]) -> list[Checkpoint]:
        """The checkpoints of those ``ids`` that match ``selector`` now."""
        ...

    def record_batch(self, batch: BatchRecord) -> None:
        """Store ``batch``, or its counts and end when it is stored already."""
        ...
