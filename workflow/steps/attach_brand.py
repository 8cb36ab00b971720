"""``incomplete``: attach the profile's own brand (``PATCH`` with ``brand``), or confirm the
inherited one by reading the profile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from workflow.ports.sent_models import ProfileDetail, SentResponse
from workflow.steps.base import (
    Advance,
    Item,
    Outcome,
    Result,
    Section,
    StepContext,
    StepDefinition,
    StepOutput,
)
from workflow.steps.views import profile_view

__all__ = ["ATTACHED", "STEP", "BrandAttached"]

NAME = "attach_brand"
BRAND = "brand"


class BrandAttached(StepOutput):
    """The brand step's output: ``own``, ``inherited`` or ``none``, and the profile's view."""

    brand: str
    brand_id: str | None = None
    profile: dict[str, Any] | None = None
    request_id: str | None = None


#: The brand step's output, for this step and later ones to read.
ATTACHED: Final = Result(NAME, BRAND, BrandAttached)


def _output(kind: str, reply: SentResponse[ProfileDetail]) -> BrandAttached:
    brand = reply.data.brand
    return BrandAttached(
        brand=kind,
        brand_id=brand.id if brand is not None else None,
        profile=profile_view(reply.data),
        request_id=reply.request_id,
    )


def _patch(ctx: StepContext) -> BrandAttached:
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


def _confirm(ctx: StepContext) -> BrandAttached:
    profile_id = ctx.profile_id
    reply = ctx.call("GET", f"/v3/profiles/{profile_id}", lambda: ctx.api.get_profile(profile_id))
    brand = reply.data.brand
    return _output("inherited" if brand is not None and brand.is_inherited else "none", reply)


def _items(ctx: StepContext) -> Sequence[Item]:
    if ctx.spec.brand is not None:
        return [Item(BRAND, _patch, key_id="brand")]
    return [Item(BRAND, _confirm)]


def _finish(ctx: StepContext) -> Outcome:
    attached = ctx.result(ATTACHED)
    assert attached is not None
    return Advance(
        details={"brand": attached.brand, "brand_id": attached.brand_id},
        request_id=attached.request_id,
    )


STEP = StepDefinition(
    name=NAME,
    items=_items,
    finish=_finish,
    description="PATCH the own brand, or read the profile to confirm the inherited one",
    sections=(Section("brand"),),
)
