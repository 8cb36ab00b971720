"""What a step's outcome means: the change to commit, decided without I/O.

The executor runs a step's items (:mod:`workflow.engine.items`), then asks here what the
outcome means for the onboarding, and commits the :class:`Decision` it gets in one transaction
(:mod:`workflow.engine.executor`). A transition (the step's trigger, or a pause) is built by
:func:`workflow.core.transition.transition`, the rule management's actions use too; the rest
(progress, a wait, a retry after a backoff) changes the checkpoint without a transition.
Nothing here reads a clock, a database or Sent: the time, the run's attempts and a draw of the
backoff come in as arguments.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from workflow.core.backoff import RetryPolicy
from workflow.core.bounds import MAX_MESSAGE, MAX_REASON, MAX_REQUEST_ID, bounded, optional
from workflow.core.errors import GuardRejectedError, SentApiError, TransitionError
from workflow.core.machine import MachineDefinition
from workflow.core.redaction import redact
from workflow.core.transition import Firing, transition
from workflow.flows import FlowDefinition
from workflow.ports import (
    UNSET,
    Anchoring,
    AttemptRecord,
    Change,
    Checkpoint,
    CheckpointUpdate,
    StepRecord,
)
from workflow.steps.base import Advance, Pause, StepContext, StepDefinition, Wait

__all__ = [
    "STILL_FAILING_AFTER",
    "Decision",
    "Failure",
    "Note",
    "Run",
    "advanced",
    "after_failure",
    "described",
    "failed",
    "held",
    "paused",
    "progress",
    "refusal",
    "refused",
    "waiting",
]

#: The attempt at which a step that keeps failing is logged at WARNING (once).
STILL_FAILING_AFTER: Final = 5
#: Draws a backoff delay in seconds: ``(policy, attempt number, Retry-After)``.
Draw = Callable[[RetryPolicy, int, float | None], float]


@dataclass(frozen=True, slots=True)
class Run:
    """One run of a step: what every decision about its outcome reads.

    ``machine``: the state machine of the checkpoint's own flow version. ``owner``: the worker
    whose lease a change that ends the claim releases. ``attempts``: the API calls the step
    made (the step context's list, filled as the step runs). ``flow``: the flow definition of
    that version (``None`` when this release does not run it).
    """

    checkpoint: Checkpoint
    machine: MachineDefinition
    actor: str
    anchoring: Anchoring
    now: datetime
    owner: str | None
    attempts: Sequence[AttemptRecord] = ()
    flow: FlowDefinition | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt: Sent's error (``None`` for an error of ours) and how to record it."""

    error: SentApiError | None
    code: str
    message: str
    unexpected: bool


@dataclass(frozen=True, slots=True)
class Note:
    """A log line to write once the decision is committed (never before)."""

    level: int
    message: str
    args: tuple[Any, ...]
    state: str
    trigger: str


@dataclass(frozen=True, slots=True)
class Decision:
    """A change to commit, what kind of outcome it is (the :class:`StepReport` kind), and the
    line to log when it commits."""

    kind: str
    change: Change
    note: Note | None = None


def progress(run: Run, pending: Sequence[StepRecord]) -> Decision:
    """An item is done and more follow: commit it, and go on at once."""
    update = CheckpointUpdate(
        attempts=0, step_started_at=None, last_error=None, next_attempt_at=run.now
    )
    change = Change(
        run.checkpoint.id, run.checkpoint.version, run.now, update, records=pending,
        attempts=run.attempts, base=run.checkpoint,
    )  # fmt: skip
    return Decision("progress", change)


def held(
    run: Run, pending: Sequence[StepRecord], until: datetime, rate_class: str | None
) -> Decision:
    """Wait until ``until`` without counting an attempt: for a slot of ``rate_class`` at Sent's
    pace, or (no class) for Sent to finish a request it is still processing."""
    update = CheckpointUpdate(
        next_attempt_at=until,
        rate_class=rate_class,
        rate_slot_at=until if rate_class is not None else None,
    )
    change = Change(
        run.checkpoint.id, run.checkpoint.version, run.now, update, records=pending,
        attempts=run.attempts, release=run.owner, base=run.checkpoint,
    )  # fmt: skip
    return Decision("wait", change)


def waiting(run: Run, pending: Sequence[StepRecord], wait: Wait) -> Decision:
    """The step waits (for a result): a fresh budget once the wait is over."""
    update = dataclasses.replace(
        wait.update, attempts=0, step_started_at=None, last_error=None, next_attempt_at=wait.until
    )
    change = Change(
        run.checkpoint.id, run.checkpoint.version, run.now, update, records=pending,
        attempts=run.attempts, release=run.owner, wake_if_nudged_since=run.now,
        base=run.checkpoint,
    )  # fmt: skip
    return Decision("wait", change)


def advanced(
    run: Run, step: StepDefinition, trigger: str, pending: Sequence[StepRecord], advance: Advance
) -> Decision | None:
    """Every item is done: fire the step's trigger (its guards may still refuse: a pause)."""
    wake = advance.update.wake_on_callback
    update = dataclasses.replace(
        advance.update,
        attempts=0,
        step_started_at=None,
        last_error=None,
        wake_on_callback=False if wake is UNSET else wake,
    )
    firing = Firing(
        trigger, run.actor, run.now, advance.kwargs, details=advance.details or None,
        request_id=optional(advance.request_id, MAX_REQUEST_ID),
    )  # fmt: skip
    try:
        change = transition(
            run.checkpoint, run.machine, firing, run.anchoring, update=update,
            sent_secrets=step.consumes_secrets,
        )  # fmt: skip
    except GuardRejectedError as exc:
        return paused(run, pending, refusal(exc, run.flow))
    entry = change.transition
    assert entry is not None
    next_at = change.update.next_attempt_at
    due = isinstance(next_at, datetime) and next_at <= run.now
    change = dataclasses.replace(
        change, records=pending, attempts=run.attempts, release=None if due else run.owner
    )
    note = Note(
        logging.INFO, "%s: %s -> %s", (trigger, entry.from_state, entry.to_state),
        entry.to_state, trigger,
    )  # fmt: skip
    return Decision("advance", change, note)


def paused(run: Run, records: Sequence[StepRecord], pause: Pause) -> Decision | None:
    """A person must look: pause where it is (``None``: it cannot pause from here)."""
    details = {"code": pause.code, **(pause.details or {})}
    update = CheckpointUpdate(
        next_attempt_at=None, wake_on_callback=False, last_error={"reason": pause.reason, **details}
    )
    firing = Firing("pause", run.actor, run.now, reason=pause.reason, details=details)
    try:
        change = transition(run.checkpoint, run.machine, firing, run.anchoring, update=update)
    except TransitionError:
        return None
    change = dataclasses.replace(
        change, records=records, attempts=tuple(run.attempts), release=run.owner
    )
    note = Note(
        logging.WARNING, "paused in %s (%s): %s",
        (run.checkpoint.state, pause.code, pause.reason), str(change.update.state), "pause",
    )  # fmt: skip
    return Decision("pause", change, note)


def failed(
    run: Run,
    step: StepDefinition,
    ctx: StepContext,
    pending: Sequence[StepRecord],
    failure: Failure,
    policy: RetryPolicy,
    draw: Draw,
) -> Decision | None:
    """A failed attempt: a retry after a backoff, or a pause (a refusal with a meaning of its
    own for the step, a non-retryable error, or the retry budget spent)."""
    exc = failure.error
    checkpoint, now = run.checkpoint, run.now
    if exc is not None and not exc.retryable and step.refusal is not None:
        refused = step.refusal(ctx, exc)
        if refused is not None:
            records = [*_judged_again(ctx, step, pending), *after_failure(ctx, step, exc, now)]
            return paused(run, records, refused)
    attempts = checkpoint.attempts + 1
    previous = checkpoint.last_error or {}
    unexpected = int(previous.get("unexpected_attempts", 0)) + (1 if failure.unexpected else 0)
    started = checkpoint.step_started_at or now
    error = _error(exc, failure, attempts, unexpected)
    records = [*pending, *after_failure(ctx, step, exc, now)]
    retryable = exc is None or exc.retryable
    elapsed = (now - started).total_seconds()
    if not retryable or policy.exhausted(attempts, elapsed, unexpected=failure.unexpected):
        why = (
            "non-retryable error"
            if not retryable
            else f"gave up after {attempts} attempts over {elapsed:.0f}s"
        )
        reason = f"{why}: {redact(str(exc)) if exc is not None else error['message']}"
        return paused(run, records, Pause(str(error["code"]), bounded(reason, MAX_REASON), error))
    delay = draw(policy, attempts, exc.retry_after if exc is not None else None)
    update = CheckpointUpdate(
        attempts=attempts,
        step_started_at=started,
        last_error=error,
        next_attempt_at=now + timedelta(seconds=delay),
    )
    change = Change(
        checkpoint.id, checkpoint.version, now, update, records=records,
        attempts=run.attempts, release=run.owner, base=checkpoint,
    )  # fmt: skip
    # Every retry at DEBUG; once at WARNING when a step keeps failing, so an outage shows in
    # the default log without a line per attempt.
    level = logging.WARNING if attempts == STILL_FAILING_AFTER else logging.DEBUG
    still = " (still failing: it is retried until the step's retry budget ends)"
    note = Note(
        level, "%s failed (attempt %d, %s): %s; next try in %.1fs%s",
        (step.name, attempts, error["code"], error["message"], delay,
         still if level == logging.WARNING else ""),
        checkpoint.state, "retry",
    )  # fmt: skip
    return Decision("retry", change, note)


def _error(
    exc: SentApiError | None, failure: Failure, attempts: int, unexpected: int
) -> dict[str, Any]:
    """The checkpoint's ``last_error`` after a failed attempt (bounded, secrets redacted)."""
    error: dict[str, Any] = {
        "code": "UNEXPECTED_RESPONSE" if exc is not None and exc.unexpected else failure.code,
        "message": bounded(
            redact(exc.message if exc is not None else failure.message), MAX_MESSAGE
        ),
        "attempts": attempts,
        "unexpected_attempts": unexpected,
    }
    if exc is not None:
        error.update(
            status=exc.status, details=exc.details, request_id=exc.request_id,
            retryable=exc.retryable, sent_code=exc.code,
        )  # fmt: skip
    return error


def described(exc: BaseException, *, first_line: bool = False) -> str:
    """An exception, bounded, for ``last_error`` and the log, secrets redacted; ``first_line``
    for a database's error (its further lines are advice, or the statement)."""
    text = str(exc).strip()
    if first_line:
        text = text.splitlines()[0] if text else ""
    return bounded(redact(f"{type(exc).__name__}: {text}"), MAX_MESSAGE)


def after_failure(
    ctx: StepContext, step: StepDefinition, exc: SentApiError | None, now: datetime
) -> list[StepRecord]:
    """The failing item's record after its attempt: what the attempt may have left at Sent."""
    item = ctx.item
    if item is None or item.key_id is None or not ctx.attempts:
        return []
    last = ctx.attempts[-1]
    if last.idempotency_key is None or last.idempotency_key != ctx.key(item):
        return []  # the failing call was a read: nothing changes for the key
    record = ctx.record(step.name, item.id) or StepRecord(
        step.name, item.id, ctx.checkpoint.generation
    )
    if exc is not None and not exc.retryable:
        # Refused: nothing was applied under this key, and Sent may keep answering the refusal
        # for it, so the next attempt (after a person fixed the cause) uses a new key. A refusal
        # because the key was used with another body means the other body may have been applied.
        reused = "Idempotency-Key" in exc.details
        return [
            dataclasses.replace(
                record,
                key_seq=record.key_seq + 1,
                uncertain=False,
                may_exist=record.may_exist or reused,
                first_sent_at=None,
            )
        ]
    return [dataclasses.replace(record, uncertain=True, first_sent_at=record.first_sent_at or now)]


def _judged_again(
    ctx: StepContext, step: StepDefinition, pending: Sequence[StepRecord]
) -> list[StepRecord]:
    """The pending records, with the step's pure items (what was judged) marked refused and not
    done: after a resume they are computed again, from Sent's current view."""
    pure = {i.id for i in step.items(ctx) if i.pure}
    kept = {(r.step, r.item) for r in pending}
    judged = [
        r for (name, item), r in ctx.records.items()
        if name == step.name and item in pure and (name, item) not in kept
    ]  # fmt: skip
    return refused(step, pure, [*pending, *judged])


def refused(
    step: StepDefinition, pure: set[str], records: Sequence[StepRecord]
) -> list[StepRecord]:
    """``records`` with the step's pure items marked refused and not done (judged again)."""
    return [
        dataclasses.replace(r, done=False, output={**r.output, "refused": True})
        if r.item in pure and r.step == step.name
        else r
        for r in records
    ]


def refusal(exc: GuardRejectedError, flow: FlowDefinition | None) -> Pause:
    """The pause for a guard's refusal: unmet prerequisites each with its code (under the code
    the flow names for the trigger's guard), or the reasons."""
    unmet = []
    for reason in exc.reasons:
        code, _, message = reason.partition(": ")
        unmet.append({"code": code, "message": message or reason})
    pause = flow.guard_pause(exc.trigger) if flow is not None else None
    if pause is not None:
        return Pause(
            pause,
            "prerequisites not met: " + "; ".join(u["message"] for u in unmet),
            {"unmet": unmet},
        )
    return Pause("GUARD", str(exc), {"reasons": list(exc.reasons)})
