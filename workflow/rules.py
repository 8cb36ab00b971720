"""Seed 002's prerequisites and Status Logic as pure functions.

``/v3/profiles/{id}/complete`` checks the prerequisites and then sets the profile's status by the
Status Logic, evaluated in order::

    1. both SMS and WhatsApp channels missing            -> SUBMITTED
    2. TCR application not inheriting brand/campaigns     -> SUBMITTED
    3. non-TCR application with a main destination country -> SUBMITTED
    4. otherwise                                          -> COMPLETED

Where the seed's wording is loose, ``sent-api.md`` section 0 decides: rule 2 applies when a TCR
application does not inherit *both* brand and campaigns; "profile should have campaigns" warns
but does not block; channel presence is read from the phone number fields and the WhatsApp
Business Account. The engine and the sandbox both call these functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "CompletionFacts",
    "Outcome",
    "Prerequisite",
    "StatusDecision",
    "channel_presence",
    "has_main_destination_country",
    "prerequisites",
    "status_logic",
    "unmet_prerequisites",
]


class Outcome(StrEnum):
    """The two results of a background completion (the ``/complete`` vocabulary)."""

    SUBMITTED = "submitted"
    COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class CompletionFacts:
    """Everything the prerequisites and the Status Logic look at, as plain booleans."""

    profile_complete: bool
    inherit_tcr_brand: bool
    inherit_tcr_campaign: bool
    has_own_brand: bool
    parent_has_brand: bool
    is_tcr_application: bool
    has_own_campaigns: bool
    parent_has_campaigns: bool
    has_sms: bool
    has_whatsapp: bool
    has_main_destination_country: bool


@dataclass(frozen=True, slots=True)
class Prerequisite:
    """One unmet prerequisite: a stable code, a sentence, and whether it blocks completion."""

    code: str
    message: str
    blocking: bool = True


@dataclass(frozen=True, slots=True)
class StatusDecision:
    """The Status Logic's answer and the rule (1-4) that decided it."""

    outcome: Outcome
    rule: int
    reason: str


def prerequisites(facts: CompletionFacts) -> list[Prerequisite]:
    """Every unmet prerequisite of seed 002, blocking ones and warnings, in the seed's order."""
    found: list[Prerequisite] = []
    if not facts.profile_complete:
        found.append(
            Prerequisite(
                "PROFILE_INCOMPLETE",
                "The profile's general data is incomplete: name, short_name and description "
                "must all be filled in.",
            )
        )
    if not facts.inherit_tcr_brand and not facts.has_own_brand:
        found.append(
            Prerequisite(
                "OWN_BRAND_MISSING",
                "inherit_tcr_brand is false, so the profile must have its own brand; attach one.",
            )
        )
    if facts.inherit_tcr_brand and not facts.parent_has_brand:
        found.append(
            Prerequisite(
                "PARENT_BRAND_MISSING",
                "inherit_tcr_brand is true, so the parent organization must have a brand; "
                "it has none.",
            )
        )
    inherited_campaigns = facts.inherit_tcr_campaign and facts.parent_has_campaigns
    if facts.is_tcr_application and not (facts.has_own_campaigns or inherited_campaigns):
        found.append(
            Prerequisite(
                "TCR_CAMPAIGN_MISSING",
                "A TCR application needs at least one campaign, its own or inherited.",
            )
        )
    if not facts.inherit_tcr_campaign and not facts.has_own_campaigns:
        found.append(
            Prerequisite(
                "OWN_CAMPAIGNS_RECOMMENDED",
                "inherit_tcr_campaign is false, so the profile should have its own campaigns.",
                blocking=False,
            )
        )
    if facts.inherit_tcr_campaign and not facts.parent_has_campaigns:
        found.append(
            Prerequisite(
                "PARENT_CAMPAIGNS_MISSING",
                "inherit_tcr_campaign is true, so the parent organization must have campaigns; "
                "it has none.",
            )
        )
    return found


def unmet_prerequisites(facts: CompletionFacts) -> list[Prerequisite]:
    """Only the prerequisites that block ``/complete``."""
    return [p for p in prerequisites(facts) if p.blocking]


def status_logic(facts: CompletionFacts) -> StatusDecision:
    """The status a completion ends in, by the first Status Logic rule that matches."""
    if not facts.has_sms and not facts.has_whatsapp:
        return StatusDecision(Outcome.SUBMITTED, 1, "both SMS and WhatsApp channels are missing")
    if facts.is_tcr_application and not (facts.inherit_tcr_brand and facts.inherit_tcr_campaign):
        return StatusDecision(
            Outcome.SUBMITTED, 2, "TCR application that does not inherit both brand and campaigns"
        )
    if not facts.is_tcr_application and facts.has_main_destination_country:
        return StatusDecision(
            Outcome.SUBMITTED, 3, "non-TCR application with a main destination country"
        )
    return StatusDecision(Outcome.COMPLETED, 4, "no SUBMITTED rule applies")


def _present(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def channel_presence(
    profile: Mapping[str, Any], *, inherited_waba_has_phone_number: bool = False
) -> tuple[bool, bool]:
    """Whether a profile has SMS and WhatsApp, by ``sent-api.md`` section 0.

    SMS: ``sending_phone_number`` or ``sending_phone_number_profile_id``. WhatsApp:
    ``whatsapp_phone_number``, ``sending_whatsapp_number_profile_id``, or a WhatsApp Business
    Account with a ``phone_number_id`` (the profile's own, or the organization's it inherits).

    Returns:
        ``(has_sms, has_whatsapp)``.
    """
    has_sms = _present(profile.get("sending_phone_number")) or _present(
        profile.get("sending_phone_number_profile_id")
    )
    waba = profile.get("whatsapp_business_account")
    own_waba_number = isinstance(waba, Mapping) and _present(waba.get("phone_number_id"))
    has_whatsapp = (
        _present(profile.get("whatsapp_phone_number"))
        or _present(profile.get("sending_whatsapp_number_profile_id"))
        or own_waba_number
        or (waba is None and inherited_waba_has_phone_number)
    )
    return has_sms, has_whatsapp


def has_main_destination_country(compliance: Mapping[str, Any] | None) -> bool:
    """Whether any ``destinationCountries`` entry has ``isMain: true`` (either casing)."""
    if not compliance:
        return False
    countries = compliance.get("destinationCountries") or compliance.get("destination_countries")
    if not isinstance(countries, list):
        return False
    return any(isinstance(c, Mapping) and c.get("isMain") is True for c in countries)
