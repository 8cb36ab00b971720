"""What the steps keep of Sent's replies, and the completion facts computed from it.

Sent's create and PATCH replies already carry the profile as it now is, so the engine keeps a
compact :func:`profile_view` of the latest reply in that step's record and computes the
prerequisites and the Status Logic prediction from it: no read-back before ``/complete``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflow.rules import (
    DEFAULT_REVISION,
    CompletionFacts,
    channel_presence,
    has_main_destination_country,
)
from workflow.sent_models import ProfileDetail
from workflow.spec import OnboardingSpec, OrganizationFacts

__all__ = ["completion_facts", "latest_view", "profile_view"]

_PROFILE_FIELDS = (
    "name", "short_name", "description", "status", "inherit_tcr_brand", "inherit_tcr_campaign",
    "sending_phone_number", "whatsapp_phone_number", "sending_phone_number_profile_id",
    "sending_whatsapp_number_profile_id", "waba_id",
)  # fmt: skip


def profile_view(profile: ProfileDetail) -> dict[str, Any]:
    """The fields of a ``ProfileDetail`` the rules look at, JSON-ready."""
    view: dict[str, Any] = {name: getattr(profile, name) for name in _PROFILE_FIELDS}
    brand = profile.brand
    if brand is None:
        view["brand"] = None
    else:
        compliance = brand.compliance or {}
        view["brand"] = {
            "id": brand.id,
            "is_inherited": bool(brand.is_inherited),
            "is_tcr_application": brand.is_tcr_application,
            "has_main_destination_country": has_main_destination_country(compliance),
            "submitted_to_tcr": bool(brand.submitted_to_tcr),
        }
    return view


def latest_view(*outputs: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The newest profile view among step outputs (later arguments are newer)."""
    for output in reversed(outputs):
        if output is not None and isinstance(output.get("profile"), Mapping):
            view: Mapping[str, Any] = output["profile"]
            return view
    return {}


def completion_facts(
    spec: OnboardingSpec,
    view: Mapping[str, Any],
    *,
    own_campaigns: int,
    inherited_campaigns: int,
    organization: OrganizationFacts,
    revision: str = DEFAULT_REVISION,
) -> CompletionFacts:
    """The prerequisites' and Status Logic's inputs, from Sent's latest view of the profile.

    Where a reply left a field out, the spec's value stands in (what was sent is what is there).
    Under ``2026-10`` the KYC form and the uploaded documents are unknown here (``None``).
    """
    brand = view.get("brand")
    inherits_brand = view.get("inherit_tcr_brand")
    if inherits_brand is None:
        inherits_brand = spec.profile.inherits_brand
    inherits_campaigns = view.get("inherit_tcr_campaign")
    if inherits_campaigns is None:
        inherits_campaigns = spec.profile.inherits_campaigns
    compliance = (spec.brand or {}).get("compliance") or {}
    is_tcr = brand.get("is_tcr_application") if isinstance(brand, Mapping) else None
    if is_tcr is None:
        is_tcr = bool(compliance.get("isTcrApplication")) if spec.brand is not None else False
    main_country = (
        bool(brand.get("has_main_destination_country"))
        if isinstance(brand, Mapping)
        else has_main_destination_country(compliance)
    )
    channels = {name: view.get(name) for name in _PROFILE_FIELDS}
    waba = spec.profile.whatsapp_business_account
    if waba is not None:
        channels["whatsapp_business_account"] = {"phone_number_id": waba.phone_number_id}
    has_sms, has_whatsapp = channel_presence(
        channels, inherited_waba_has_phone_number=bool(organization.whatsapp_has_phone_number)
    )
    inherited_brand = isinstance(brand, Mapping) and bool(brand.get("is_inherited"))
    return CompletionFacts(
        profile_complete=all(
            isinstance(view.get(name), str) and bool(str(view.get(name)).strip())
            for name in ("name", "short_name", "description")
        ),
        inherit_tcr_brand=bool(inherits_brand),
        inherit_tcr_campaign=bool(inherits_campaigns),
        has_own_brand=isinstance(brand, Mapping) and not inherited_brand,
        parent_has_brand=inherited_brand or bool(organization.has_brand),
        is_tcr_application=bool(is_tcr),
        has_own_campaigns=own_campaigns > 0,
        parent_has_campaigns=inherited_campaigns > 0 or bool(organization.has_campaigns),
        has_sms=has_sms,
        has_whatsapp=has_whatsapp,
        has_main_destination_country=main_country,
        revision=revision,
        tcr_choice_stated=spec.profile.inherit_tcr_brand is not None
        and spec.profile.inherit_tcr_campaign is not None,
    )
