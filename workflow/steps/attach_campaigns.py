"""``brand``: create each own campaign (one item each), or confirm the inherited ones.

Each campaign is its own item with its own Idempotency-Key, so a crash after one is created
never creates it again. When an earlier attempt (a lost reply, an earlier generation) may have
created a campaign that Sent may no longer replay, the profile's campaigns are read first: the
one a reply to this item's requests named is adopted, or the one the window rule proves
(:mod:`workflow.steps.ownership`); when something may be the item's and nothing is proven, the
onboarding pauses listing the candidates. A rewind never leaves a second copy at Sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workflow.ports import StepRecord
from workflow.steps.base import (
    Advance,
    Item,
    Outcome,
    Pause,
    Section,
    StepContext,
    StepDefinition,
    StepOutput,
)
from workflow.steps.lookup import adopted_campaign, campaign_digest, find_campaign, unproven_pause

__all__ = ["STEP", "Attached", "CampaignCreated", "InheritedCampaigns", "attached"]

NAME = "attach_campaigns"
INHERITED = "inherited"
#: The prefix of the campaign items (``campaign-2`` sends ``campaigns[2]``).
CAMPAIGN = "campaign-"


class CampaignCreated(StepOutput):
    """A campaign item's output: the campaign made (or adopted, with ``reconciled``)."""

    campaign_id: str
    request_id: str | None = None
    reconciled: bool | None = None
    proof: str | None = None
    chosen_by: str | None = None


class InheritedCampaigns(StepOutput):
    """The ``inherited`` item's output: how many campaigns the profile inherited."""

    inherited_campaigns: int


@dataclass(frozen=True)
class Attached:
    """What the step holds, for later steps: its own campaigns by item, and those inherited."""

    own: dict[str, CampaignCreated]
    inherited: int


def attached(ctx: StepContext) -> Attached:
    """The campaigns the step attached so far (its done items), typed."""
    outputs = ctx.outputs(NAME)
    inherited = outputs.get(INHERITED)
    return Attached(
        own={
            item: CampaignCreated.model_validate(dict(output))
            for item, output in outputs.items()
            if item.startswith(CAMPAIGN)
        },
        inherited=(
            InheritedCampaigns.model_validate(dict(inherited)).inherited_campaigns
            if inherited is not None
            else 0
        ),
    )


def _campaign_item(index: int, campaign: Mapping[str, Any]) -> Item:
    def create(ctx: StepContext) -> CampaignCreated:
        key = ctx.key()
        profile_id = ctx.profile_id
        reply = ctx.call(
            "POST",
            f"/v3/profiles/{profile_id}/campaigns",
            lambda: ctx.api.create_campaign(profile_id, campaign, idempotency_key=key),
            key=key,
            resource=lambda result: result.data.id,
            content=campaign_digest(campaign),
        )
        return CampaignCreated(campaign_id=reply.data.id, request_id=reply.request_id)

    def reconcile(ctx: StepContext, record: StepRecord) -> Mapping[str, Any] | Pause | None:
        taken = {
            str(output.get("campaign_id"))
            for item, output in ctx.outputs(NAME).items()
            if item != f"{CAMPAIGN}{index}"
        }
        found, verdict = find_campaign(ctx, record, campaign, taken)
        if found is not None:
            return adopted_campaign(found, verdict, record)
        if verdict.unproven:
            return unproven_pause(ctx, "campaign", record.item, verdict)
        return None

    return Item(
        f"{CAMPAIGN}{index}",
        create,
        key_id="campaign",
        index=index,
        creates=True,
        reconcile=reconcile,
    )


def _count_inherited(ctx: StepContext) -> InheritedCampaigns:
    profile_id = ctx.profile_id
    listed = ctx.call(
        "GET",
        f"/v3/profiles/{profile_id}/campaigns",
        lambda: ctx.api.list_campaigns(profile_id),
    )
    return InheritedCampaigns(inherited_campaigns=len(listed))


def _items(ctx: StepContext) -> Sequence[Item]:
    if not ctx.spec.campaigns:
        return [Item(INHERITED, _count_inherited)]
    return [_campaign_item(i, c) for i, c in enumerate(ctx.spec.campaigns)]


def _finish(ctx: StepContext) -> Outcome:
    outputs = ctx.outputs(NAME)
    if INHERITED in outputs:
        return Advance(details=dict(outputs[INHERITED]))
    ids = {item.removeprefix("campaign-"): o["campaign_id"] for item, o in sorted(outputs.items())}
    reconciled = sorted(
        i.removeprefix("campaign-") for i, o in outputs.items() if o.get("reconciled")
    )
    details: dict[str, Any] = {"campaign_ids": ids}
    if reconciled:
        details["reconciled"] = reconciled
    return Advance(details=details)


STEP = StepDefinition(
    name=NAME,
    items=_items,
    finish=_finish,
    description="POST each own campaign (adopting one a lost reply left, if proven), or list "
    "inherited ones",
    sections=(Section("campaigns", items=CAMPAIGN, creates=CAMPAIGN),),
)
