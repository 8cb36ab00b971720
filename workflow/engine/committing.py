"""Committing a decision: one transaction through the store port, then its log line.

:func:`commit` applies a :class:`~workflow.engine.deciding.Decision`'s change at the version the
run read (the store refuses it when anything wrote in between), writes the log line the decision
carries only once the change is committed, and returns the :class:`StepReport` the runner acts
on. An operator (or a worker that took over an expired lease) that wrote first makes the outcome
a ``conflict``: the attempts made are kept as a record, the rest is discarded (Sent's side
replays under the same keys). Any other refusal is :class:`CommitRefused`, which the executor
turns into a failed attempt.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from workflow.core.errors import ConcurrencyError
from workflow.engine.deciding import Decision, Run, described
from workflow.ports import UNSET, Change, Checkpoint, StepRecord, WorkerStore

__all__ = ["CommitRefused", "StepReport", "commit", "log_fields"]

log = logging.getLogger("workflow.engine")


@dataclass(frozen=True)
class StepReport:
    """What one :meth:`Executor.advance` did.

    ``kind``: advance, progress, wait, retry, pause, conflict or idle.
    """

    onboarding_id: str
    kind: str
    state: str
    due_now: bool
    checkpoint: Checkpoint | None = None
    records: Sequence[StepRecord] = ()
    released: bool = False
    change: Change | None = None


class CommitRefused(Exception):
    """The store refused a change (not a concurrency conflict): ``error`` says why."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def commit(
    store: WorkerStore,
    run: Run,
    decision: Decision | None,
    records: Mapping[tuple[str, str], StepRecord] | None = None,
) -> StepReport:
    """Commit ``decision`` in one transaction through the store; log it once committed.

    ``records``: the step's records after the commit, carried to the next step of the
    claim when the onboarding went on (progress, advance).
    """
    checkpoint = run.checkpoint
    if decision is None:  # nothing to commit: it cannot pause from where it is
        return StepReport(checkpoint.id, "idle", checkpoint.state, False, None)
    change = decision.change
    if change.base is None:
        change = dataclasses.replace(change, base=checkpoint)
    if checkpoint.rate_class is not None and change.update.rate_class is UNSET:
        # The slot held was spent (or the onboarding moved on): it waits for none now.
        change = dataclasses.replace(
            change,
            update=dataclasses.replace(change.update, rate_class=None, rate_slot_at=None),
        )
    try:
        saved = store.apply(change)
    except ConcurrencyError:
        # An operator (or a worker that took over an expired lease) wrote first. Sent's side
        # is safe (the same key replays); what Sent answered is kept with the attempts.
        try:
            store.record_attempts(checkpoint.id, change.attempts)
        except Exception as exc:  # the conflict stands; the attempts are only a record
            log.warning(
                "onboarding %s: could not record the attempts of a discarded outcome: %s",
                checkpoint.id, described(exc, first_line=True),
            )  # fmt: skip
        return StepReport(checkpoint.id, "conflict", checkpoint.state, False, None, change=change)
    except Exception as exc:  # StoreError, or a value the driver refused
        raise CommitRefused(exc) from exc
    note = decision.note
    if note is not None and log.isEnabledFor(note.level):
        profile_id = saved.profile_id if note.trigger != "retry" else checkpoint.profile_id
        log.log(
            note.level, note.message, *note.args,
            extra=log_fields(checkpoint, profile_id, note.state, note.trigger),
        )  # fmt: skip
    due = saved.next_attempt_at is not None and saved.next_attempt_at <= change.at
    released = change.release is not None
    kept = list(records.values()) if records is not None and decision.kind in _GOING_ON else []
    return StepReport(
        saved.id, decision.kind, saved.state, due and not released, saved, kept, released,
        change,
    )  # fmt: skip


#: The kinds of outcome after which the claim's next step goes on from the records in memory.
_GOING_ON: Final = frozenset({"progress", "advance"})


def log_fields(
    checkpoint: Checkpoint, profile_id: str | None, state: str, trigger: str
) -> dict[str, Any]:
    """The fields of the engine's log lines about one onboarding."""
    return {
        "onboarding_id": checkpoint.id,
        "key": checkpoint.key,
        "profile_id": profile_id,
        "state": state,
        "trigger": trigger,
    }
