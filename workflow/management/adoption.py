"""What a person decides after an ``OWNERSHIP_UNPROVEN`` pause: which listed candidate is the
onboarding's (``resume --adopt ID``), or that none is (``resume --create-new``).

The engine never adopts what its own attempts do not prove; a person may, but only one of the
candidates the pause listed and only one no other onboarding holds. The decision is written
into the paused create's step record, so the worker acts on it under the version check:
``adopt`` makes the id a known one (adopted if Sent still has it), ``create_new`` dismisses
every listed candidate for good and moves the create to a new Idempotency-Key.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from workflow.core.errors import TransitionError
from workflow.ports import Checkpoint, ManagementStore, StepRecord
from workflow.steps.ownership import OWNERSHIP_UNPROVEN

__all__ = ["decided"]


def _refused(current: Checkpoint, why: str) -> TransitionError:
    return TransitionError("resume", current.state, f"'onboarding resume' refused: {why}")


def decided(
    current: Checkpoint,
    store: ManagementStore,
    *,
    actor: str,
    adopt: str | None,
    create_new: bool,
) -> tuple[list[StepRecord], dict[str, Any]]:
    """The paused create's record with the person's decision, and the audit row's details.

    Raises:
        TransitionError: not paused with ``OWNERSHIP_UNPROVEN``, both or neither decision,
            an ``adopt`` id the pause did not list, or one another onboarding holds.
    """
    error = current.last_error or {}
    if current.paused_from is None or error.get("code") != OWNERSHIP_UNPROVEN:
        raise _refused(
            current,
            f"--adopt and --create-new answer an {OWNERSHIP_UNPROVEN} pause; onboarding "
            f"{current.key!r} is {current.state} with code {error.get('code')}",
        )
    if (adopt is not None) == create_new:
        raise _refused(current, "give either --adopt ID or --create-new")
    step, item = str(error.get("step")), str(error.get("item"))
    id_field = str(error.get("id_field"))
    listed = [str(c.get("id")) for c in error.get("candidates") or []]
    records = store.records(current.id, current.generation)
    record = next(
        (r for r in records if (r.step, r.item) == (step, item)),
        StepRecord(step, item, current.generation),
    )
    if adopt is not None:
        if adopt not in listed:
            raise _refused(
                current,
                f"{adopt} is not one of the candidates the pause listed ({', '.join(listed)})",
            )
        others = [h for h in store.holders([adopt]).get(adopt, []) if h.onboarding_id != current.id]
        if others:
            named = ", ".join(f"{h.key!r} ({h.onboarding_id})" for h in others)
            raise _refused(current, f"{adopt} is held by onboarding {named}: never adopted")
        output = {**record.output, id_field: adopt, "chosen_by": actor}
        chosen = dataclasses.replace(record, output=output, may_exist=True, uncertain=False)
        return [chosen], {"adopt": adopt, "item": item}
    dismissed = sorted({*(record.output.get("dismissed") or []), *listed})
    output = {k: v for k, v in record.output.items() if k not in (id_field, "chosen_by")} | {
        "dismissed": dismissed,
        "chosen_by": actor,
    }
    fresh = dataclasses.replace(
        record,
        output=output,
        key_seq=record.key_seq + 1,
        may_exist=False,
        uncertain=False,
        first_sent_at=None,
    )
    return [fresh], {"create_new": True, "dismissed": listed, "item": item}
