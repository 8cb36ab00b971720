"""``complete``: wait for the background completion, then conclude with Sent's outcome.

A callback only wakes the onboarding; the outcome is read from ``GET /v3/profiles/{id}``.
Polling covers callbacks that never come (Sent sends it once, without retry), up to a deadline
that starts when the wait starts (again at each resume). ``rejected`` pauses with the reason
Sent gives.

When ``/complete`` answered 200 (already done) with a status, that answer is the outcome: it
concludes at once, with Sent's status recorded. Under the ``2026-10`` revision a failed
background run leaves the profile's status as it was, and only the callback says why: a callback
received during this wait that reports a failure pauses with ``COMPLETION_FAILED`` and Sent's
reason. ``approved`` concludes as ``completed`` (every onboarded profile reads ``approved``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from workflow.core.bounds import MAX_MESSAGE, bounded
from workflow.core.rules import REVISION_2026_10, Outcome as Result
from workflow.ports import CallbackReads, CheckpointUpdate
from workflow.steps.base import Advance, Item, Outcome, Pause, StepContext, StepDefinition, Wait
from workflow.steps.request_completion import ACCEPTED

__all__ = ["STEP"]

NAME = "await_outcome"
SUBMITTED_STATUSES = frozenset({"submitted", "pending_review"})
COMPLETED_STATUSES = frozenset({"completed", "approved"})
REASON_FIELDS = ("rejection_reason", "status_reason", "reason", "message")
FAILURE_FIELDS = ("reason", "failure_reason", "error", "message")
FAILED_STATUSES = frozenset({"failed", "failure", "error"})


def _result(status: str) -> Result | None:
    if status in SUBMITTED_STATUSES:
        return Result.SUBMITTED
    if status in COMPLETED_STATUSES:
        return Result.COMPLETED
    return None


def _already_done(ctx: StepContext) -> Outcome | None:
    """``/complete`` answered 200 with a status: that is the outcome, no callback comes."""
    answer = ctx.result(ACCEPTED)
    if answer is None:
        return None
    status = (answer.status or "").lower()
    result = _result(status)
    if answer.http_status != 200 or result is None:
        return None
    return Advance(
        kwargs={"outcome": result},
        details={
            "status": status,
            "sent_status": status,
            "from": "/complete answered 200: already done",
            "predicted": ctx.checkpoint.predicted_outcome,
        },
        request_id=answer.request_id,
        update=CheckpointUpdate(actual_outcome=result.value, wake_on_callback=False),
    )


def _failure_reported(ctx: StepContext) -> str | None:
    """Under 2026-10: the reason a callback of this wait gave for a failed completion."""
    if ctx.sent_api != REVISION_2026_10 or not isinstance(ctx.reads, CallbackReads):
        return None
    deadline = ctx.checkpoint.completion_deadline or ctx.now
    since = deadline - timedelta(seconds=ctx.completion_timeout)
    payload = ctx.reads.latest_callback(ctx.checkpoint.id, since)
    if payload is None:
        return None
    status = str(payload.get("status") or "").lower()
    if status in COMPLETED_STATUSES or status in SUBMITTED_STATUSES:
        return None
    reason = next((payload[f] for f in FAILURE_FIELDS if payload.get(f)), None)
    if reason is None and status not in FAILED_STATUSES:
        return None
    text = reason if isinstance(reason, str) else "no reason given"
    return bounded(text, MAX_MESSAGE)


def _items(ctx: StepContext) -> Sequence[Item]:
    return []


def _finish(ctx: StepContext) -> Outcome:
    done = _already_done(ctx)
    if done is not None:
        return done
    profile_id = ctx.profile_id
    fetched = ctx.call("GET", f"/v3/profiles/{profile_id}", lambda: ctx.api.get_profile(profile_id))
    status = (fetched.data.status or "").lower()
    for statuses, result in (
        (SUBMITTED_STATUSES, Result.SUBMITTED),
        (COMPLETED_STATUSES, Result.COMPLETED),
    ):
        if status in statuses:
            return Advance(
                kwargs={"outcome": result},
                details={"status": status, "predicted": ctx.checkpoint.predicted_outcome},
                request_id=fetched.request_id,
                update=CheckpointUpdate(actual_outcome=result.value, wake_on_callback=False),
            )
    if status == "rejected":
        extra = fetched.data.model_extra or {}
        why = next((str(extra[f]) for f in REASON_FIELDS if extra.get(f)), "no reason given")
        why = bounded(why, MAX_MESSAGE)  # Sent's text, of any length
        return Pause(
            "REJECTED",
            f"Sent rejected profile {profile_id}: {why}",
            {"status": status, "sent_reason": why, "request_id": fetched.request_id},
        )
    failed = _failure_reported(ctx)
    if failed is not None:
        return Pause(
            "COMPLETION_FAILED",
            f"Sent's completion of profile {profile_id} failed: {failed} (status stays "
            f"{status or 'unknown'}); fix the cause, then rewind it to campaigns to call /complete "
            "again",
            {"status": status, "sent_reason": failed, "request_id": fetched.request_id},
        )
    deadline = ctx.checkpoint.completion_deadline or ctx.now + timedelta(
        seconds=ctx.completion_timeout
    )
    if ctx.now >= deadline:
        return Pause(
            "COMPLETION_TIMEOUT",
            f"no completion result by {deadline.isoformat()} (status {status or 'unknown'}); "
            "'onboarding resume' waits again",
            {"status": status, "deadline": deadline.isoformat()},
        )
    return Wait(
        until=min(ctx.now + timedelta(seconds=ctx.poll_interval), deadline),
        update=CheckpointUpdate(completion_deadline=deadline, wake_on_callback=True),
    )


STEP = StepDefinition(
    name=NAME,
    items=_items,
    finish=_finish,
    description="GET the profile until Sent reports submitted or completed (a callback wakes it)",
)
