"""``incomplete``: attach the profile's own brand (``PATCH`` with ``brand``), or confirm the
inherited one by reading the profile."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workflow.ports.sent_models import ProfileDetail, SentResponse
from workflow.steps.base import Advance, Item, Outcome, Section, StepContext, StepDefinition
from workflow.steps.views import profile_view

__all__ = ["STEP"]

NAME = "attach_brand"
BRAND = "brand"


def _output(kind: str, reply: SentResponse[ProfileDetail]) -> Mapping[str, Any]:
    brand = reply.data.brand
    return {
        "brand": kind,
        "brand_id": brand.id if brand is not None else None,
        "profile": profile_view(reply.data),
        "request_id": reply.request_id,
    }


def _patch(ctx: StepContext) -> Mapping[str, Any]:
    key = ctx.key()
    profile_id = ctx.profile_id
    body = {"brand": ctx.spec.brand}
    reply = ctx.call(
        "PATCH",
        f"/v3/profiles/{profile_id}",
        lambda: ctx.api.update_profile(profile_id, body, idempotency_key=key),
        key=key,
    )
    return _output("own", reply)


def _confirm(ctx: StepContext) -> Mapping[str, Any]:
    profile_id = ctx.profile_id
    reply = ctx.call("GET", f"/v3/profiles/{profile_id}", lambda: ctx.api.get_profile(profile_id))
    brand = reply.data.brand
    return _output("inherited" if brand is not None and brand.is_inherited else "none", reply)


def _items(ctx: StepContext) -> Sequence[Item]:
    if ctx.spec.brand is not None:
        return [Item(BRAND, _patch, key_id="brand")]
    return [Item(BRAND, _confirm)]


def _finish(ctx: StepContext) -> Outcome:
    output = ctx.output(NAME, BRAND) or {}
    return Advance(
        details={"brand": output.get("brand"), "brand_id": output.get("brand_id")},
        request_id=output.get("request_id"),
    )


STEP = StepDefinition(
    name=NAME,
    items=_items,
    finish=_finish,
    description="PATCH the own brand, or read the profile to confirm the inherited one",
    sections=(Section("brand"),),
)
