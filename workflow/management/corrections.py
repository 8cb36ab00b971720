"""What an amend or a rewind changes, decided without the store.

An amend: the new spec's update, the keys it renews, the profile fields it sends again as a
PATCH, and what earlier steps already sent. A rewind: the new generation, and the records it
starts from. Pure functions of the checkpoint, the generation's records and the flow definition;
:class:`~workflow.management.onboardings.Onboardings` reads those, asks here, and commits the
result as one transition.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from workflow.core.errors import SpecConflictError, TransitionError, UnresolvedCreateError
from workflow.core.spec import OnboardingSpec, changed_paths
from workflow.flows import FlowDefinition
from workflow.management.decisions import (
    is_unresolved_create,
    patchable_profile_fields,
    profile_update,
    refreshed_facts,
    renewed_key,
    sent_paths,
    unresolved_creates,
    unresolved_refusal,
)
from workflow.ports import Checkpoint, CheckpointUpdate, StepRecord

__all__ = ["Amendment", "amendment", "refuse_amend", "rewound"]


@dataclass(frozen=True, slots=True)
class Amendment:
    """An amend to commit: the checkpoint's update, the records it writes (renewed keys, a
    profile PATCH, facts to judge again), the audit row's details, and the changed paths that
    earlier steps already sent and will not send again."""

    update: CheckpointUpdate
    records: list[StepRecord]
    details: dict[str, Any]
    already_sent: list[str]


def refuse_amend(current: Checkpoint, spec: OnboardingSpec) -> None:
    """Raise when the spec cannot amend ``current``: another key, or secrets too late.

    Raises:
        SpecConflictError: the spec names another key, or brings secrets after the create.
    """
    if spec.key != current.key:
        raise SpecConflictError(
            f"the spec's key {spec.key!r} is not onboarding {current.key!r}'s; amend keeps "
            "the key (start a new onboarding for a new key)",
            key=spec.key,
        )
    if current.profile_id is not None and spec.has_secrets():
        raise SpecConflictError(
            f"onboarding {current.key!r} already created its profile, which is when "
            "payment details and the WhatsApp token are sent; change them at Sent and "
            "leave them out of the amended spec",
            key=current.key,
        )


def amendment(
    current: Checkpoint,
    spec: OnboardingSpec,
    records: Sequence[StepRecord],
    flow: FlowDefinition,
    secrets_fingerprint: str,
) -> Amendment:
    """What amending ``current`` (with ``records``, its generation's) to ``spec`` changes.

    Raises:
        UnresolvedCreateError: the amend would change the body of a create that was sent and
            whose reply is unknown (it keeps its body and key, so a resume resolves it).
    """
    secrets = spec.has_secrets()
    paths = changed_paths(current.spec, spec.storable())
    unresolved = unresolved_creates(records, paths, secrets, flow)
    if unresolved:
        raise UnresolvedCreateError("amend", current.state, unresolved_refusal(current, unresolved))
    sent = sent_paths(paths, records, flow)
    # Profile fields the create already sent go out again as a PATCH, the next time the step
    # that PATCHes them runs: now when it is still ahead (then the facts are judged again from
    # Sent), else after a rewind to its state or earlier (listed as already sent).
    update_at = flow.profile_update
    fields = (
        patchable_profile_fields(sent, spec.storable().get("profile") or {})
        if current.profile_id is not None and update_at is not None
        else []
    )
    ahead = update_at is not None and update_at[0] in flow.steps_from(
        current.paused_from or current.state
    )
    patched = fields if ahead else []
    if patched:
        sent = [p for p in sent if not patchable_profile_fields([p], {f: 1 for f in patched})]
    renewed = _renewed(current, records, fields, flow, judge_again=bool(patched))
    update = CheckpointUpdate(
        spec=spec.storable(), fingerprint=spec.fingerprint(),
        # Held until the create sends them; new ones replace them (the sealed ``secret``).
        has_secrets=secrets or (current.has_secrets and current.profile_id is None),
        secrets_fingerprint=secrets_fingerprint,
    )  # fmt: skip
    details = {
        "changed": paths, "already_sent": sent, "patched": patched, "queued": fields,
        "secrets_replaced": secrets,
    }  # fmt: skip
    return Amendment(update, renewed, details, sent)


def _renewed(
    current: Checkpoint,
    records: Sequence[StepRecord],
    fields: list[str],
    flow: FlowDefinition,
    *,
    judge_again: bool,
) -> list[StepRecord]:
    """The records an amend writes: items not yet done under new keys, the profile PATCH of
    ``fields``, and (``judge_again``: the PATCH changes what they were judged on) the facts."""
    renewed = [
        renewed_key(r)
        for r in records
        if not r.done
        and (r.step, r.item) != flow.profile_update
        and not (judge_again and (r.step, r.item) == flow.completion_facts)
        # Its body is unchanged: under its own key Sent replays what it did.
        and not is_unresolved_create(r, flow)
    ]
    if fields:
        renewed.append(profile_update(fields, records, current.generation, flow))
    if judge_again:
        renewed += refreshed_facts(records, flow)
    return renewed


def rewound(
    current: Checkpoint,
    flow: FlowDefinition,
    records: Sequence[StepRecord],
    resource_ids: Callable[[str], Sequence[str]],
    target: str,
    delete_at_sent: bool,
) -> tuple[CheckpointUpdate, list[StepRecord]]:
    """What a rewind of ``current`` (``records``: its generation's) to ``target`` writes: the
    new generation's update, and its records (earlier steps' outputs carried, later creates to
    look up at Sent before creating again, and, when a new profile is wanted with
    ``delete_at_sent``, the old ones to delete: ``resource_ids(step)`` lists what a step made).

    Raises:
        TransitionError: ``target`` is not a state of the path.
    """
    path = flow.machine.path
    if target not in path:
        raise TransitionError(
            "rewind", current.state, f"rewind --to must be one of: {', '.join(path)}"
        )
    generation = current.generation + 1
    rerun = flow.steps_from(target)
    first = flow.profile_step
    fresh_profile = first is not None and target == flow.state_of(first.name)
    carried = _carried(records, generation, flow, rerun, first.name if first else "", fresh_profile)
    update = CheckpointUpdate(
        generation=generation, predicted_outcome=None, predicted_rule=None,
        wake_on_callback=False,
    )  # fmt: skip
    if fresh_profile:
        update = dataclasses.replace(update, profile_id=None)
        if delete_at_sent and first is not None:
            old = [current.profile_id] if current.profile_id else []
            old += resource_ids(first.name)
            carried.append(
                StepRecord(
                    first.name, "delete-previous", generation,
                    output={"profile_ids": list(dict.fromkeys(old))},
                )
            )  # fmt: skip
    return update, carried


def _carried(
    records: Sequence[StepRecord],
    generation: int,
    flow: FlowDefinition,
    rerun: Collection[str],
    first_step: str,
    fresh_profile: bool,
) -> list[StepRecord]:
    """The records a rewind's new ``generation`` starts from: earlier steps' outputs as they
    are, the steps run again (``rerun``) reset, looking at Sent before creating again."""
    carried: list[StepRecord] = []
    for record in records:
        moved = dataclasses.replace(record, generation=generation)
        if record.step not in rerun:
            carried.append(moved)  # earlier steps' outputs stand
        elif fresh_profile and record.step != first_step:
            continue  # the old profile's later records say nothing about a new profile
        elif fresh_profile and record.done:
            continue  # a new profile is wanted: the old one is not adopted
        elif flow.resent_on_rewind(record.step, record.item):
            # A request (amended profile fields): sent again in the new generation's key.
            carried.append(
                dataclasses.replace(
                    moved, done=False, uncertain=False, key_seq=0, first_sent_at=None
                )
            )
        elif record.done or record.uncertain or record.may_exist:
            # It may exist at Sent, and the new key will not replay it: look before creating.
            carried.append(
                dataclasses.replace(
                    moved, done=False, may_exist=True, uncertain=False, key_seq=0,
                    first_sent_at=None,
                )
            )  # fmt: skip
    return carried
