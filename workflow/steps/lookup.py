"""Reading Sent before creating again: what an earlier attempt of this onboarding left behind.

A lookup never matches by content alone (another onboarding may hold a profile with the same
name): it first looks for the ids this onboarding's own replies named, then judges the rest by
the rule of :mod:`workflow.steps.ownership`, and reports what it cannot prove.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from workflow.ports import AttemptRecord, StepRecord
from workflow.ports.sent_models import Campaign, ProfileDetail
from workflow.steps.base import Pause, StepContext
from workflow.steps.ownership import (
    CAMPAIGN_FIELDS,
    OWNERSHIP_UNPROVEN,
    PROFILE_FIELDS,
    Found,
    Verdict,
    content_digest,
    judge,
    unresolved,
)
from workflow.steps.views import profile_view

__all__ = [
    "OWNERSHIP_UNPROVEN",
    "adopted_campaign",
    "adopted_profile",
    "campaign_digest",
    "find_campaign",
    "find_profile",
    "profile_digest",
    "profiles_to_delete",
    "unproven_pause",
]

PROFILE_STEP, PROFILE_ITEM = "create_profile", "profile"


def profile_digest(body: Mapping[str, Any] | ProfileDetail) -> str:
    """The content digest of a profile create's body, or of a profile Sent holds."""
    return content_digest(body, PROFILE_FIELDS)


def campaign_digest(body: Mapping[str, Any] | Campaign) -> str:
    """The content digest of a campaign create's body, or of a campaign Sent holds."""
    return content_digest(body, CAMPAIGN_FIELDS)


def _attempts(ctx: StepContext, step: str, item: str, current: str) -> list[AttemptRecord]:
    """The item's attempts; one made before digests were kept counts with today's content."""
    return [
        a if a.content_digest is not None else dataclasses.replace(a, content_digest=current)
        for a in ctx.reads.item_attempts(ctx.checkpoint.id, step, item)
    ]


def _answered(attempts: Iterable[AttemptRecord], *extra: object) -> list[str]:
    ids = [str(e) for e in extra if e]
    return list(dict.fromkeys([*ids, *(a.resource_id for a in attempts if a.resource_id)]))


def _verdict(
    ctx: StepContext,
    found: Sequence[Found],
    attempts: Sequence[AttemptRecord],
    dismissed: Collection[str],
) -> Verdict:
    holders = ctx.reads.holders([f.id for f in found]) if found else {}
    verdict = judge(found, attempts, holders, onboarding_id=ctx.checkpoint.id, dismissed=dismissed)
    if verdict.adopt is not None:
        ctx.found(verdict.adopt)
    return verdict


def _known(ctx: StepContext, resource_id: str) -> Verdict:
    ctx.found(resource_id)
    return Verdict(resource_id, "answered")


def find_profile(ctx: StepContext, record: StepRecord) -> tuple[ProfileDetail | None, Verdict]:
    """This onboarding's profile at Sent, if its own replies (this generation's) or the
    window rule prove one; the verdict lists what could not be proven."""
    current = profile_digest(ctx.spec.create_body({}))
    attempts = _attempts(ctx, PROFILE_STEP, PROFILE_ITEM, current)
    known = _answered(
        (a for a in attempts if a.generation == ctx.checkpoint.generation),
        record.output.get("profile_id"),
    )
    profiles = ctx.call("GET", "/v3/profiles", ctx.api.list_profiles)
    by_id = {p.id: p for p in profiles}
    for profile_id in known:
        if profile_id in by_id:
            return by_id[profile_id], _known(ctx, profile_id)
    found = [Found(p.id, p.created_at, profile_digest(p)) for p in profiles]
    verdict = _verdict(ctx, found, attempts, record.output.get("dismissed") or [])
    return (by_id[verdict.adopt] if verdict.adopt else None), verdict


def find_campaign(
    ctx: StepContext, record: StepRecord, campaign: Mapping[str, Any], taken: Collection[str]
) -> tuple[Campaign | None, Verdict]:
    """This item's campaign on the profile, if a reply to one of its requests (any generation)
    or the window rule proves one; campaigns other items hold are never it."""
    current = campaign_digest(campaign)
    attempts = _attempts(ctx, ctx.step.name, record.item, current)
    known = _answered(attempts, record.output.get("campaign_id"))
    profile_id = ctx.profile_id
    campaigns = ctx.call(
        "GET",
        f"/v3/profiles/{profile_id}/campaigns",
        lambda: ctx.api.list_campaigns(profile_id),
    )
    by_id = {c.id: c for c in campaigns if c.id not in taken}
    for campaign_id in known:
        if campaign_id in by_id:
            return by_id[campaign_id], _known(ctx, campaign_id)
    found = [Found(c.id, c.created_at, campaign_digest(c)) for c in by_id.values()]
    verdict = _verdict(ctx, found, attempts, record.output.get("dismissed") or [])
    return (by_id[verdict.adopt] if verdict.adopt else None), verdict


def profiles_to_delete(ctx: StepContext) -> tuple[list[str], list[dict[str, Any]]]:
    """The profiles proven this onboarding's (every id its replies named, and one the window
    rule proves when its create is unresolved), and the candidates it could not prove."""
    checkpoint = ctx.checkpoint
    record = ctx.record(PROFILE_STEP, PROFILE_ITEM)
    output = record.output if record is not None else {}
    ids = _answered(
        (), checkpoint.profile_id, output.get("profile_id"),
        *ctx.reads.resource_ids(checkpoint.id, PROFILE_STEP),
    )  # fmt: skip
    if record is not None and record.done:
        return ids, []
    attempts = _attempts(ctx, PROFILE_STEP, PROFILE_ITEM, profile_digest(ctx.spec.create_body({})))
    if not unresolved(attempts):
        return ids, []
    profiles = ctx.call("GET", "/v3/profiles", ctx.api.list_profiles)
    found = [Found(p.id, p.created_at, profile_digest(p)) for p in profiles if p.id not in ids]
    verdict = _verdict(ctx, found, attempts, output.get("dismissed") or [])
    if verdict.adopt is not None:
        return [*ids, verdict.adopt], []
    return ids, [c.as_details() for c in verdict.candidates]


def unproven_pause(ctx: StepContext, what: str, item: str, verdict: Verdict) -> Pause:
    """The pause listing what may be this onboarding's and why none of it is proven."""
    key = ctx.checkpoint.key
    listed = "; ".join(f"{c.id} ({c.why})" for c in verdict.candidates)
    return Pause(
        OWNERSHIP_UNPROVEN,
        f"a {what} this onboarding's create may have made is not proven its own: {listed}. "
        f"A person decides: 'onboarding resume {key} --adopt ID' if one of them is, "
        f"'onboarding resume {key} --create-new' if none is",
        {
            "step": ctx.step.name,
            "item": item,
            "id_field": f"{what}_id",
            "candidates": [c.as_details() for c in verdict.candidates],
        },
    )


def adopted_profile(profile: ProfileDetail, verdict: Verdict, record: StepRecord) -> dict[str, Any]:
    """The create's output for a profile a lookup proved this onboarding's (or a person
    chose: ``chosen_by`` in the record)."""
    output = {
        "profile_id": profile.id,
        "profile": profile_view(profile),
        "reconciled": True,
        "proof": verdict.proof,
    }
    return output | _chosen(record, profile.id)


def _chosen(record: StepRecord, resource_id: str) -> dict[str, Any]:
    chooser = record.output.get("chosen_by")
    if chooser and resource_id in (
        record.output.get("profile_id"),
        record.output.get("campaign_id"),
    ):
        return {"proof": "chosen", "chosen_by": chooser}
    return {}


def adopted_campaign(campaign: Campaign, verdict: Verdict, record: StepRecord) -> dict[str, Any]:
    """The item's output for a campaign a lookup proved this onboarding's (or a person chose)."""
    output = {"campaign_id": campaign.id, "reconciled": True, "proof": verdict.proof}
    return output | _chosen(record, campaign.id)
