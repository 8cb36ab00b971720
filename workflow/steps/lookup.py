"""Reading Sent before creating again: find what an earlier attempt may have left behind."""

from __future__ import annotations

from collections.abc import Collection

from workflow.sent_models import Campaign, ProfileDetail
from workflow.steps.base import StepContext

__all__ = ["find_campaign", "find_profile"]


def find_profile(ctx: StepContext, known_id: str | None) -> ProfileDetail | None:
    """The profile with ``known_id``, else the one profile matching the spec's content.

    Content means name, short_name and description; with two or more candidates nothing is
    found (never guess).
    """
    body = ctx.spec.create_body({})
    profiles = ctx.call("GET", "/v3/profiles", ctx.api.list_profiles)
    matches = [p for p in profiles if known_id and p.id == known_id]
    if not matches:
        wanted = (body.get("name"), body.get("short_name"), body.get("description"))
        matches = [p for p in profiles if (p.name, p.short_name, p.description) == wanted]
    return matches[0] if len(matches) == 1 else None


def find_campaign(
    ctx: StepContext, known_id: str | None, name: object, taken: Collection[str]
) -> Campaign | None:
    """The profile's campaign with ``known_id``, else the first one named ``name`` that no
    other item of this onboarding has adopted."""
    profile_id = ctx.profile_id
    campaigns = ctx.call(
        "GET",
        f"/v3/profiles/{profile_id}/campaigns",
        lambda: ctx.api.list_campaigns(profile_id),
    )
    by_id = next((c for c in campaigns if known_id and c.id == known_id), None)
    if by_id is not None:
        return by_id
    return next((c for c in campaigns if c.id not in taken and c.name == name), None)
