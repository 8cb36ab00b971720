"""``cancelling``: delete the onboarding's profiles at Sent, then end as ``cancelled``.

Used by ``cancel --delete-at-sent`` and, as the ``delete-previous`` item of the create step, by
``rewind --to pending --delete-at-sent``. ``DELETE /v3/profiles/{id}`` takes no Idempotency-Key;
deleting twice is harmless because a 404 (already gone) counts as done.

Only profiles proven this onboarding's are deleted: every id Sent answered to its requests, and,
when its create's outcome is unknown, the one profile the window rule proves
(:mod:`workflow.steps.ownership`). A profile that may be its but is not proven is left alone
and listed under ``not_proven`` in the audit row; the cancel still ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from workflow.core.errors import SentApiError
from workflow.steps.base import Advance, Item, Outcome, StepContext, StepDefinition
from workflow.steps.lookup import profiles_to_delete

__all__ = ["STEP", "delete_item", "delete_profiles"]

NAME = "delete_profile"
DELETE = "delete"


def delete_profiles(ctx: StepContext, profile_ids: Iterable[str]) -> Mapping[str, Any]:
    """Delete each profile; one already gone (404) counts as deleted."""
    deleted: list[str] = []
    gone: list[str] = []
    for profile_id in dict.fromkeys(profile_ids):
        try:
            ctx.call(
                "DELETE",
                f"/v3/profiles/{profile_id}",
                lambda p=profile_id: ctx.api.delete_profile(p),  # type: ignore[misc]
            )
        except SentApiError as exc:
            if exc.status != 404:
                raise
            gone.append(profile_id)
        else:
            deleted.append(profile_id)
    return {"deleted": deleted, "already_gone": gone}


def delete_item(item_id: str, profile_ids: Sequence[str]) -> Item:
    """An item deleting the given profiles."""
    return Item(item_id, lambda ctx: delete_profiles(ctx, profile_ids))


def _delete_own(ctx: StepContext) -> Mapping[str, Any]:
    ids, not_proven = profiles_to_delete(ctx)
    output = delete_profiles(ctx, ids)
    return {**output, "not_proven": not_proven} if not_proven else output


def _items(ctx: StepContext) -> Sequence[Item]:
    return [Item(DELETE, _delete_own)]


def _finish(ctx: StepContext) -> Outcome:
    output = ctx.output(NAME, DELETE) or {}
    return Advance(details={k: list(v) for k, v in output.items()})


STEP = StepDefinition(
    name=NAME,
    items=_items,
    finish=_finish,
    description="DELETE /v3/profiles/{id} for every profile proven its own; 404 counts as done",
)
