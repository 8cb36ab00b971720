"""One transition of one onboarding, as a change to commit: the rule written once.

:func:`transition` fires a trigger on a checkpoint's state machine (its guards decide) and
returns the :class:`~workflow.ports.Change` that records it: the checkpoint's new state and
``paused_from``, ``finished_at`` and no next attempt when the onboarding ends, a next attempt
now when it enters a state a worker runs, the chained audit row, and what happens to the sealed
secrets. The engine (a step's outcome, a pause) and management (an operator's action) both
build their transitions here; nothing here does I/O or reads a clock.

Secrets: they are deleted once the step that sends them succeeded (``sent_secrets``) or the
onboarding ends (a terminal state, or a state off the path that only leads out, such as
``cancelling``); they are replaced by ``secret`` (an amend); otherwise they stay, whatever
state the onboarding waits in. ``has_secrets`` in the update always says what is held.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflow.core.audit_chain import chained
from workflow.core.machine import PAUSED, MachineDefinition, OnboardingFlow
from workflow.ports import Anchoring, AuditEntry, Change, Checkpoint, CheckpointUpdate

__all__ = ["Firing", "ending_states", "transition"]


@dataclass(frozen=True, slots=True)
class Firing:
    """A trigger fired on one onboarding: its guard arguments, who, when, and what the audit
    row says about it."""

    trigger: str
    actor: str
    at: datetime
    arguments: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None
    details: Mapping[str, Any] | None = None
    request_id: str | None = None
    batch_id: str | None = None


def ending_states(machine: MachineDefinition) -> frozenset[str]:
    """The states of an onboarding that has ended or is ending: the terminal ones, and the side
    states off the path (``cancelling``) that lead only out."""
    return machine.terminal_states | (machine.active_states - set(machine.path) - {PAUSED})


def transition(
    checkpoint: Checkpoint,
    machine: MachineDefinition,
    firing: Firing,
    anchoring: Anchoring,
    *,
    update: CheckpointUpdate | None = None,
    sent_secrets: bool = False,
    secret: bytes | None = None,
) -> Change:
    """The change that fires ``firing`` on ``checkpoint``, with ``update``'s fields beside.

    Args:
        machine: the machine of the checkpoint's own flow version.
        anchoring: anchors the audit row's chain head (the vault).
        update: further fields the transition sets (a step's outputs, an operator's reset).
        sent_secrets: the step that fired it sent the sealed secrets (they go now).
        secret: new sealed secrets to hold instead of the old ones.

    Raises:
        TransitionError: the trigger does not exist from the checkpoint's state.
        GuardRejectedError: it exists, but every guard refused; nothing was built.
    """
    flow = OnboardingFlow(checkpoint.state, checkpoint.paused_from, definition=machine)
    record = flow.fire(firing.trigger, **firing.arguments)
    state = record.to_state
    terminal = state in machine.terminal_states
    values = update.values() if update is not None else {}
    if terminal:
        values.update(next_attempt_at=None, finished_at=firing.at)
    elif state in machine.active_states:
        values.setdefault("next_attempt_at", firing.at)
    if (
        secret is None
        and checkpoint.has_secrets
        and (sent_secrets or state in ending_states(machine) or values.get("has_secrets") is False)
    ):
        secret = b""  # never needed again
    if secret is not None:
        values["has_secrets"] = bool(secret)
    values.update(state=state, paused_from=flow.paused_from)
    merged = CheckpointUpdate(**values)
    entry = AuditEntry(
        firing.trigger, record.from_state, state, firing.actor, firing.at,
        reason=firing.reason, request_id=firing.request_id,
        details=dict(firing.details) if firing.details is not None else None,
        profile_id=values.get("profile_id", checkpoint.profile_id), batch_id=firing.batch_id,
    )  # fmt: skip
    return Change(
        checkpoint.id, checkpoint.version, firing.at, merged,
        chained(checkpoint, entry, anchoring), secret=secret, base=checkpoint,
    )  # fmt: skip
