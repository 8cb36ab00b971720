"""What operator actions decide without the store: why one does not apply, what an amend
already sent, and the keys it renews. Pure functions of a checkpoint, a machine and records."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from workflow.machine import OPERATOR_TRIGGERS, OnboardingFlow
from workflow.ports import Checkpoint, StepRecord

__all__ = ["refusal", "renewed_key", "sent_paths"]


def refusal(current: Checkpoint, machine: OnboardingFlow, trigger: str) -> str:
    """Why an operator action cannot apply, in CLI commands (never internal trigger names)."""
    state = current.state
    if current.paused_from:
        state += f" (paused in {current.paused_from})"
    can = sorted(t for t in machine.allowed_triggers() if t in OPERATOR_TRIGGERS)
    now = (
        "nothing can change it any more"
        if machine.is_terminal
        else "what applies now: " + ", ".join(f"'onboarding {t}'" for t in can)
        if can
        else "no operator action applies now"
    )
    return (
        f"'onboarding {trigger}' does not apply to onboarding {current.key!r} ({current.id}): "
        f"it is {state}; {now}"
    )


def renewed_key(record: StepRecord) -> StepRecord:
    """A not-yet-done item after an amend: a new key, and a look at Sent first if the old key
    may have been applied (with the old body)."""
    return dataclasses.replace(
        record,
        key_seq=record.key_seq + 1,
        may_exist=record.may_exist or record.uncertain,
        uncertain=False,
        first_sent_at=None,
    )


_SECTION_STEP = {
    "profile": ("create_profile", None),
    "brand": ("attach_brand", None),
    "campaigns": ("attach_campaigns", "campaign-"),
    "channels": ("request_completion", "channels"),
}


def sent_paths(paths: Sequence[str], records: Sequence[StepRecord]) -> list[str]:
    """The changed paths whose step already sent them (an amend does not send them again)."""
    done = {(r.step, r.item) for r in records if r.done}
    sent = []
    for path in paths:
        section = path.split(".", 1)[0].split("[", 1)[0]
        step, item = _SECTION_STEP.get(section, (None, None))
        if step is None:
            continue
        if any(s == step and (item is None or i.startswith(item)) for s, i in done):
            sent.append(path)
    return sent
