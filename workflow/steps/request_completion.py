"""``campaigns``: PATCH the channel fields, check the prerequisites, call ``/complete``.

Items: ``profile`` (only after an amend changed profile fields the create already sent: PATCH
them with the spec's values), ``channels`` (when the spec has channel fields), ``facts`` (the
prerequisites' and Status Logic's inputs, computed from the replies already held: no
read-back), then ``complete``. The ``request_completion`` guard (every prerequisite met) is
checked before ``/complete`` is called; a refusal pauses with every unmet prerequisite instead
of letting Sent answer 400. After such a pause, a resume reads the profile and its campaigns
from Sent once (a person may have fixed them there, or an amend's PATCH did) and judges again.

The rules are those of the Sent API revision the onboarding started under. What only Sent knows
(under ``2026-10``: the KYC form, uploaded documents) cannot be judged here: when Sent answers
400 naming unmet prerequisites, the onboarding pauses with ``PREREQUISITES`` and Sent's list,
and a resume judges again as above. A 200 (already done) is concluded from Sent's answer by the
next step, without waiting for a callback.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Final

from workflow.core.bounds import MAX_REASON, bounded
from workflow.core.errors import SentApiError
from workflow.core.rules import CompletionFacts, predict
from workflow.ports import CheckpointUpdate
from workflow.steps.attach_brand import ATTACHED
from workflow.steps.attach_campaigns import Attached, attached
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
from workflow.steps.create_profile import CREATED
from workflow.steps.views import completion_facts, latest_view, profile_view

__all__ = ["ACCEPTED", "STEP", "CompletionAccepted"]

NAME = "request_completion"
PROFILE = "profile"
CHANNELS = "channels"
FACTS = "facts"
COMPLETE = "complete"


class CompletionAccepted(StepOutput):
    """``/complete``'s answer: 202 (accepted, a callback follows) or 200 (already done)."""

    http_status: int
    message: str | None = None
    status: str | None = None
    request_id: str | None = None


#: ``/complete``'s answer, for this step and the one that waits for the outcome.
ACCEPTED: Final = Result(NAME, COMPLETE, CompletionAccepted)


def _channels(ctx: StepContext) -> Mapping[str, Any]:
    key = ctx.key()
    profile_id = ctx.profile_id
    body = ctx.spec.channels_body()
    reply = ctx.call(
        "PATCH",
        f"/v3/profiles/{profile_id}",
        lambda: ctx.api.update_profile(profile_id, body, idempotency_key=key),
        key=key,
    )
    return {"profile": profile_view(reply.data), "request_id": reply.request_id}


def _amended_fields(ctx: StepContext) -> list[str]:
    record = ctx.record(NAME, PROFILE)
    return list(record.output.get("fields", [])) if record is not None else []


def _profile(ctx: StepContext) -> Mapping[str, Any]:
    """PATCH the profile fields an amend changed after the create sent them."""
    key = ctx.key()
    profile_id = ctx.profile_id
    fields = _amended_fields(ctx)
    values = ctx.spec.profile.model_dump(mode="json", include=set(fields), exclude_none=True)
    reply = ctx.call(
        "PATCH",
        f"/v3/profiles/{profile_id}",
        lambda: ctx.api.update_profile(profile_id, values, idempotency_key=key),
        key=key,
    )
    return {"fields": fields, "profile": profile_view(reply.data), "request_id": reply.request_id}


def _facts(ctx: StepContext) -> Mapping[str, Any]:
    campaigns = attached(ctx)
    previous = ctx.record(NAME, FACTS)
    if previous is not None and previous.output.get("refused"):
        # The prerequisites were refused before and a person resumed: they may have fixed the
        # profile at Sent, so judge Sent's current view, not the replies held.
        view, own, inherited = _read_sent(ctx, campaigns)
    else:
        view = latest_view(
            _dumped(ctx.result(CREATED)),
            _dumped(ctx.result(ATTACHED)),
            ctx.output(NAME, PROFILE),
            ctx.output(NAME, CHANNELS),
        )
        inherited = campaigns.inherited
        own = len(campaigns.own)
    facts = completion_facts(
        ctx.spec,
        view,
        own_campaigns=own,
        inherited_campaigns=int(inherited),
        organization=ctx.organization,
        revision=ctx.sent_api,
    )
    return {"facts": dataclasses.asdict(facts)}


def _dumped(output: StepOutput | None) -> Mapping[str, Any] | None:
    return output.model_dump() if output is not None else None


def _read_sent(ctx: StepContext, campaigns: Attached) -> tuple[Mapping[str, Any], int, int]:
    profile_id = ctx.profile_id
    profile = ctx.call("GET", f"/v3/profiles/{profile_id}", lambda: ctx.api.get_profile(profile_id))
    listed = ctx.call(
        "GET", f"/v3/profiles/{profile_id}/campaigns", lambda: ctx.api.list_campaigns(profile_id)
    )
    own_ids = {o.campaign_id for o in campaigns.own.values()}
    own = sum(1 for c in listed if c.id in own_ids)
    return profile_view(profile.data), own, len(listed) - own


def _stored_facts(ctx: StepContext) -> CompletionFacts:
    output = ctx.output(NAME, FACTS)
    assert output is not None
    return CompletionFacts(**output["facts"])


def _complete(ctx: StepContext) -> CompletionAccepted:
    key = ctx.key()
    profile_id = ctx.profile_id
    url = ctx.callback_url()
    reply = ctx.call(
        "POST",
        f"/v3/profiles/{profile_id}/complete",
        lambda: ctx.api.complete(profile_id, url, idempotency_key=key),
        key=key,
    )
    return CompletionAccepted(
        http_status=reply.status,
        message=reply.data.message,
        status=reply.data.status,
        request_id=reply.request_id,
    )


def _items(ctx: StepContext) -> Sequence[Item]:
    items = []
    if _amended_fields(ctx):
        items.append(Item(PROFILE, _profile, key_id="profile-update"))
    if ctx.spec.channels_body():
        items.append(Item(CHANNELS, _channels, key_id="channels"))
    items.append(Item(FACTS, _facts, pure=True))
    items.append(
        Item(
            COMPLETE,
            _complete,
            key_id="complete",
            guard=lambda c: {"facts": _stored_facts(c)},
        )
    )
    return items


def _finish(ctx: StepContext) -> Outcome:
    facts = _stored_facts(ctx)
    decision = predict(facts)
    accepted = ctx.result(ACCEPTED)
    assert accepted is not None
    return Advance(
        kwargs={"facts": facts},
        details={
            "predicted": decision.outcome.value,
            "rule": decision.rule,
            "why": decision.reason,
            "http_status": accepted.http_status,
            "message": accepted.message,
            "sent_status": accepted.status,
            "sent_api": ctx.sent_api,
        },
        request_id=accepted.request_id,
        update=CheckpointUpdate(
            predicted_outcome=decision.outcome.value,
            predicted_rule=decision.rule,
            completion_deadline=ctx.now + timedelta(seconds=ctx.completion_timeout),
            wake_on_callback=True,
            next_attempt_at=ctx.now + timedelta(seconds=min(ctx.poll_interval, 1.0)),
        ),
    )


def _refusal(ctx: StepContext, exc: SentApiError) -> Pause | None:
    """``/complete`` answered 400 naming unmet prerequisites: pause with Sent's list."""
    item = ctx.item
    if item is None or item.id != COMPLETE or exc.status != 400 or not exc.details:
        return None
    unmet = [
        {"code": field, "message": message}
        for field, messages in exc.details.items()
        for message in messages
    ]
    listed = "; ".join(f"{u['code']}: {u['message']}" for u in unmet)
    return Pause(
        "PREREQUISITES",
        bounded(f"Sent refused /complete, prerequisites not met: {listed}", MAX_REASON),
        {
            "unmet": unmet,
            "source": "sent",
            "sent_code": exc.code,
            "status": exc.status,
            "request_id": exc.request_id,
        },
    )


STEP = StepDefinition(
    name=NAME,
    items=_items,
    finish=_finish,
    description="PATCH channels, check prerequisites from the replies held, POST /complete",
    refusal=_refusal,
    sections=(Section("channels", items=CHANNELS),),
    amend_update=PROFILE,
    amend_rejudge=FACTS,
    rewind_resend=frozenset({PROFILE}),
    guard_pause="PREREQUISITES",
)
