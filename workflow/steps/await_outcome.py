"""``complete``: wait for the background completion, then conclude with Sent's outcome.

A callback only wakes the onboarding; the outcome is always read from ``GET /v3/profiles/{id}``.
Polling covers callbacks that never come, up to a deadline that starts when the wait starts
(again at each resume). ``rejected`` pauses with the reason Sent gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from workflow.bounds import MAX_MESSAGE, bounded
from workflow.ports import CheckpointUpdate
from workflow.rules import Outcome as Result
from workflow.steps.base import Advance, Item, Outcome, Pause, StepContext, StepDefinition, Wait

__all__ = ["STEP"]

NAME = "await_outcome"
SUBMITTED_STATUSES = frozenset({"submitted", "pending_review"})
COMPLETED_STATUSES = frozenset({"completed", "approved"})
REASON_FIELDS = ("rejection_reason", "status_reason", "reason", "message")


def _items(ctx: StepContext) -> Sequence[Item]:
    return []


def _finish(ctx: StepContext) -> Outcome:
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
