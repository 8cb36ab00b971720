"""What operator actions decide without the store: why one does not apply, what an amend
already sent, and the keys it renews. Pure functions of a checkpoint, a machine and records.

What a step means (the sections it sends, its creates, where an amend's PATCH and the
completion facts live) is asked of the onboarding's own flow definition (``flow``, the current
one by default), which reads what its steps declare."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from workflow.core.machine import OPERATOR_TRIGGERS, OnboardingFlow
from workflow.flows import FLOW, FlowDefinition
from workflow.ports import Checkpoint, StepRecord
from workflow.steps.ownership import OWNERSHIP_UNPROVEN

__all__ = [
    "OWNERSHIP_UNPROVEN",
    "PATCHABLE_PROFILE_FIELDS",
    "is_unresolved_create",
    "patchable_profile_fields",
    "profile_update",
    "refreshed_facts",
    "refusal",
    "renewed_key",
    "resent_by_rewind_to",
    "running",
    "sent_paths",
    "unresolved_creates",
    "unresolved_refusal",
]

#: Profile fields an amend sends again with ``PATCH /v3/profiles/{id}``. Not among them: the
#: WhatsApp business account (create only), the payment details (a secret, sent once with the
#: create), and ``inherit_tcr_brand``/``inherit_tcr_campaign``, which decide what the brand and
#: campaign steps did (changing them needs a new profile: ``rewind --to pending``).
PATCHABLE_PROFILE_FIELDS: Final = frozenset({
    "name", "short_name", "description", "icon", "allow_contact_sharing",
    "allow_template_sharing", "inherit_contacts", "inherit_templates", "billing_model",
    "billing_contact",
})  # fmt: skip


def _create_section(record: StepRecord, flow: FlowDefinition) -> str | None:
    """The spec section a create item's body is made of (``campaign-2`` sends
    ``campaigns[2]``), ``None`` for other items."""
    prefix, section = flow.creates.get(record.step, ("", ""))
    if not prefix or not record.item.startswith(prefix):
        return None
    if prefix == record.item:
        return section
    return f"{section}[{record.item.removeprefix(prefix)}]"


def _touches(path: str, section: str) -> bool:
    """Whether a changed path changes a section (a list that changed length changes each)."""
    base = section.split("[", 1)[0]
    return path in (section, base) or path.startswith((f"{section}.", f"{section}["))


def unresolved_creates(
    records: Sequence[StepRecord],
    paths: Sequence[str],
    secrets_replaced: bool,
    flow: FlowDefinition = FLOW,
) -> list[str]:
    """The creates an amend would change while their outcome at Sent is unknown (sent, reply
    lost or failed, not resolved since), named by the section their body is made of."""
    found = []
    for record in records:
        section = _create_section(record, flow)
        if section is None or record.done or not record.uncertain:
            continue
        if any(_touches(p, section) for p in paths) or (secrets_replaced and section == "profile"):
            found.append(section)
    return found


def unresolved_refusal(current: Checkpoint, sections: Sequence[str]) -> str:
    """Why an amend of those creates' bodies is refused, and what to do first."""
    return (
        f"'onboarding amend' refused: the create of {', '.join(sections)} of onboarding "
        f"{current.key!r} ({current.id}) was sent and Sent's reply is unknown, so a changed body "
        f"could make a second one at Sent; resume it first ('onboarding resume {current.key} "
        "--reason ...') so it resolves under its Idempotency-Key, then amend what is left"
    )


def is_unresolved_create(record: StepRecord, flow: FlowDefinition = FLOW) -> bool:
    """An uncertain create: its key still replays what it did, so it keeps it."""
    return _create_section(record, flow) is not None and record.uncertain and not record.done


def running(current: Checkpoint, now: datetime) -> str | None:
    """Why an action must not change ``current`` now: a worker holds its lease, so a create it
    sends may be on the wire with no record of it yet; ``None`` when no worker runs it."""
    expires = current.lease_expires_at
    if current.lease_owner is None or expires is None or expires <= now:
        return None
    return (
        f"worker {current.lease_owner} is running onboarding {current.key!r} ({current.id}) now "
        f"(its lease ends {expires.isoformat(timespec='seconds')}) and a create it sends may not "
        f"have answered yet; try again when its step is done ('onboarding show {current.key}')"
    )


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


def _section(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def sent_paths(
    paths: Sequence[str], records: Sequence[StepRecord], flow: FlowDefinition = FLOW
) -> list[str]:
    """The changed paths whose step already sent them (an amend does not send them again)."""
    done = {(r.step, r.item) for r in records if r.done}
    sent = []
    for path in paths:
        owner = flow.section_owner(_section(path))
        if owner is None:
            continue
        step, item = owner[0].name, owner[1].items
        if any(s == step and (item is None or i.startswith(item)) for s, i in done):
            sent.append(path)
    return sent


def patchable_profile_fields(
    paths: Sequence[str], profile: Mapping[str, Any] | None = None
) -> list[str]:
    """The profile fields among ``paths`` a PATCH can send (``profile.billing_contact.email``
    names ``billing_contact``); with ``profile`` (the amended spec's), only those it gives a
    value: a removed field cannot be sent (Sent reads null as "leave unchanged")."""
    fields = set()
    for path in paths:
        section, _, rest = path.partition(".")
        field = rest.split(".", 1)[0].split("[", 1)[0]
        if section != "profile" or field not in PATCHABLE_PROFILE_FIELDS:
            continue
        if profile is None or profile.get(field) is not None:
            fields.add(field)
    return sorted(fields)


def refreshed_facts(records: Sequence[StepRecord], flow: FlowDefinition = FLOW) -> list[StepRecord]:
    """The completion facts judged again from Sent after a PATCH changed the profile: the
    facts record, when there is one, turned back into a refusal (which reads Sent)."""
    return [
        dataclasses.replace(r, done=False, output={**r.output, "refused": True})
        for r in records
        if (r.step, r.item) == flow.completion_facts
    ]


def profile_update(
    fields: Sequence[str],
    records: Sequence[StepRecord],
    generation: int,
    flow: FlowDefinition = FLOW,
) -> StepRecord:
    """The record asking the flow's PATCH item (:attr:`FlowDefinition.profile_update`) to send
    ``fields`` of the profile (with the spec's values when it runs): a new key whenever the
    fields to send change."""
    where = flow.profile_update
    if where is None:
        raise ValueError(f"flow version {flow.version} has no step that PATCHes amended fields")
    step, item = where
    earlier = next(
        (r for r in records if (r.step, r.item) == where and r.generation == generation),
        None,
    )
    if earlier is None:
        return StepRecord(step, item, generation, output={"fields": list(fields)})
    pending = [] if earlier.done else list(earlier.output.get("fields", []))
    renewed = renewed_key(earlier)
    return dataclasses.replace(renewed, done=False, output={"fields": sorted({*pending, *fields})})


def resent_by_rewind_to(path: str, queued: Sequence[str] = (), flow: FlowDefinition = FLOW) -> str:
    """The ``rewind --to`` state that sends an already-sent ``path`` again: the state of the step
    that sends its section (for profile fields, the create: a new profile), except profile
    fields ``queued`` for an amend's PATCH (the state of the step that PATCHes them)."""
    section = _section(path)
    update = flow.profile_update
    if (
        update is not None
        and section == "profile"
        and patchable_profile_fields([path], {f: 1 for f in queued})
    ):
        patching = flow.state_of(update[0])
        if patching is not None:
            return patching
    return flow.section_state(section) or flow.machine.path[0]
