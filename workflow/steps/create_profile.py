"""``pending``: create the profile at Sent (``POST /v3/profiles``), sending the secrets once.

Items: ``delete-previous`` when a rewind to ``pending`` asked to delete the old profile at Sent,
then ``profile``. The create carries the payment details and the WhatsApp access token, opened
from the vault only here; the audit keeps that they were sent and the card's last four digits.

When an earlier attempt may have created the profile and Sent may not replay its key (a new
generation, a refreshed key, or more than 23 hours since the key was first sent), the profile
is looked up first (:func:`reconcile`): adopted only when this onboarding's own attempts prove
it is theirs (:mod:`workflow.steps.ownership`), otherwise the onboarding pauses with
``OWNERSHIP_UNPROVEN`` listing the candidates for a person.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from workflow.ports import CheckpointUpdate, StepRecord
from workflow.steps.base import (
    Advance,
    Item,
    Outcome,
    Pause,
    Result,
    Section,
    StepContext,
    StepDefinition,
    StepOutput,
)
from workflow.steps.delete_profile import delete_item
from workflow.steps.lookup import adopted_profile, find_profile, profile_digest, unproven_pause
from workflow.steps.views import profile_view

__all__ = ["CREATED", "STEP", "ProfileCreated"]

NAME = "create_profile"
PROFILE = "profile"
DELETE_PREVIOUS = "delete-previous"
#: What the audit row keeps of the create's output (never the profile view or a secret).
_AUDITED = frozenset({
    "profile_id", "card_last4", "payment_details_sent", "whatsapp_access_token_sent",
    "reconciled", "proof", "chosen_by",
})  # fmt: skip


class ProfileCreated(StepOutput):
    """The create's output: the profile made (or adopted, with ``reconciled`` and ``proof``),
    the view of it Sent answered, and what was sent of the secrets (never the secrets)."""

    profile_id: str
    profile: dict[str, Any] | None = None
    request_id: str | None = None
    payment_details_sent: bool | None = None
    card_last4: str | None = None
    whatsapp_access_token_sent: bool | None = None
    reconciled: bool | None = None
    proof: str | None = None
    chosen_by: str | None = None


#: The create's output, for this step and later ones to read.
CREATED: Final = Result(NAME, PROFILE, ProfileCreated)


def _body(ctx: StepContext) -> tuple[dict[str, Any], dict[str, str]]:
    secrets = ctx.secrets() if ctx.checkpoint.has_secrets else {}
    return ctx.spec.create_body(secrets), secrets


def _create(ctx: StepContext) -> ProfileCreated:
    body, secrets = _body(ctx)
    key = ctx.key()
    created = ctx.call(
        "POST",
        "/v3/profiles",
        lambda: ctx.api.create_profile(body, idempotency_key=key),
        key=key,
        resource=lambda reply: reply.data.id,
        content=profile_digest(body),
    )
    output: dict[str, Any] = {
        "profile_id": created.data.id,
        "profile": profile_view(created.data),
        "request_id": created.request_id,
    }
    if "payment_details" in secrets:
        output["payment_details_sent"] = True
        output["card_last4"] = str(body["payment_details"]["card_number"])[-4:]
    if "whatsapp_access_token" in secrets:
        output["whatsapp_access_token_sent"] = True
    return ProfileCreated.model_validate(output)


def reconcile(ctx: StepContext, record: StepRecord) -> Mapping[str, Any] | Pause | None:
    """Adopt the profile an earlier attempt made, when its own attempts prove it; pause listing
    the candidates when something may be its and nothing is proven."""
    found, verdict = find_profile(ctx, record)
    if found is not None:
        return adopted_profile(found, verdict, record)
    if verdict.unproven:
        return unproven_pause(ctx, "profile", PROFILE, verdict)
    return None


def _items(ctx: StepContext) -> Sequence[Item]:
    items: list[Item] = []
    previous = ctx.record(NAME, DELETE_PREVIOUS)
    if previous is not None:
        items.append(delete_item(DELETE_PREVIOUS, previous.output.get("profile_ids") or []))
    items.append(Item(PROFILE, _create, key_id="create", creates=True, reconcile=reconcile))
    return items


def _finish(ctx: StepContext) -> Outcome:
    output = ctx.output(NAME, PROFILE) or {}
    created = CREATED.parse(output)
    assert created is not None
    profile_id = created.profile_id
    details = {k: v for k, v in output.items() if k in _AUDITED}
    deleted = ctx.output(NAME, DELETE_PREVIOUS)
    if deleted is not None:
        details["deleted_at_sent"] = deleted.get("deleted", [])
    return Advance(
        details=details,
        request_id=output.get("request_id"),
        update=CheckpointUpdate(profile_id=profile_id),
    )


STEP = StepDefinition(
    name=NAME,
    items=_items,
    finish=_finish,
    consumes_secrets=True,
    sections=(Section("profile", creates=PROFILE),),
    creates_profile=True,
    description="POST /v3/profiles with the secrets; adopt a profile a lost reply left, if proven",
)
