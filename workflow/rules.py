"""The prerequisites and outcome of ``/complete``, per Sent API revision, as pure functions.

Two revisions of Sent's contract are known; every onboarding keeps the one it started under
(:attr:`CompletionFacts.revision` carries it into these functions):

* ``2026-03``: the seed documents (SDK 0.10 - 0.32, reference 0.24.1), below.
* ``2026-10``: the SDK 0.46 text (``sent_dm/resources/profiles/profiles.py``), at the end.

**2026-03.** Seed 002's prerequisites and Status Logic.

``/v3/profiles/{id}/complete`` checks the prerequisites and then sets the profile's status by the
Status Logic, evaluated in order::

    1. both SMS and WhatsApp channels missing            -> SUBMITTED
    2. TCR application not inheriting brand/campaigns     -> SUBMITTED
    3. non-TCR application with a main destination country -> SUBMITTED
    4. otherwise                                          -> COMPLETED

Where the seed's wording is loose, ``sent-api.md`` section 0 decides: rule 2 applies when a TCR
application does not inherit *both* brand and campaigns; "profile should have campaigns" warns
but does not block; channel presence is read from the phone number fields and the WhatsApp
Business Account.

**2026-10.** Prerequisites, all checked before anything starts (400 naming every unmet one):
name, short name and description; a KYC form submission; a brand, own or inherited; a TCR
application has at least one campaign, own or inherited; main destination countries have their
compliance documents uploaded; a TCR application states whether it inherits the organization's
brand and campaign (checked after the already-onboarded short-circuit). The outcome is no
longer submitted or completed: a profile whose background processing succeeds is onboarded and
reads ``approved``, whatever its channels or TCR state; a failed run keeps the old status and
the webhook reports why. The engine maps ``approved`` to its ``completed`` state. What a local
prediction cannot know (the KYC form, uploaded documents) is reported as *unknown*, never
guessed: it does not block locally, and Sent's 400 names it if it is unmet.

The engine and the sandbox both call these functions; tests pin them to fixed expectations
written from the seeds and the SDK text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

__all__ = [
    "DEFAULT_REVISION",
    "REVISIONS",
    "REVISION_2026_03",
    "REVISION_2026_10",
    "CompletionFacts",
    "Outcome",
    "Prerequisite",
    "StatusDecision",
    "channel_presence",
    "check_revision",
    "has_main_destination_country",
    "predict",
    "prerequisites",
    "status_logic",
    "unmet_prerequisites",
]


REVISION_2026_03: Final = "2026-03"
REVISION_2026_10: Final = "2026-10"
#: Every Sent API revision this release speaks, oldest first.
REVISIONS: Final = (REVISION_2026_03, REVISION_2026_10)
#: The revision of onboardings stored before revisions were recorded, and of new ones unless set.
DEFAULT_REVISION: Final = REVISION_2026_03


def check_revision(value: str) -> str:
    """``value`` when it names a known revision.

    Raises:
        ValueError: one line naming the known revisions.
    """
    if value not in REVISIONS:
        raise ValueError(
            f"Sent API revision must be one of {', '.join(REVISIONS)} (got {value[:40]!r})"
        )
    return value


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
    #: The revision whose rules apply; the fields below it matter under ``2026-10`` only.
    revision: str = DEFAULT_REVISION
    #: Whether a KYC form was submitted; ``None``: unknown (the engine cannot see it).
    kyc_submitted: bool | None = None
    #: Whether the main destination countries' documents are uploaded; ``None``: unknown.
    documents_uploaded: bool | None = None
    #: Whether both ``inherit_tcr_brand`` and ``inherit_tcr_campaign`` were given explicitly.
    tcr_choice_stated: bool = True


@dataclass(frozen=True, slots=True)
class Prerequisite:
    """One unmet prerequisite: a stable code, a sentence, and whether it blocks completion.

    ``unknown``: the facts cannot tell whether it is met (only Sent knows); it does not block
    locally.
    """

    code: str
    message: str
    blocking: bool = True
    unknown: bool = False


@dataclass(frozen=True, slots=True)
class StatusDecision:
    """The Status Logic's answer and the rule (1-4) that decided it."""

    outcome: Outcome
    rule: int
    reason: str


def prerequisites(facts: CompletionFacts) -> list[Prerequisite]:
    """Every unmet (or unknown) prerequisite of the facts' revision, in its documents' order."""
    if facts.revision == REVISION_2026_10:
        return _prerequisites_2026_10(facts)
    return _prerequisites_2026_03(facts)


def _prerequisites_2026_03(facts: CompletionFacts) -> list[Prerequisite]:
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


def _prerequisites_2026_10(facts: CompletionFacts) -> list[Prerequisite]:
    """The SDK 0.46 list, in its order; KYC and documents unknown unless the facts know."""
    found: list[Prerequisite] = []
    if not facts.profile_complete:
        found.append(
            Prerequisite(
                "PROFILE_INCOMPLETE",
                "The profile must have a name, short name, and description.",
            )
        )
    if facts.kyc_submitted is None:
        found.append(
            Prerequisite(
                "KYC_FORM_MISSING",
                "A KYC form submission is required; whether one was submitted is unknown here.",
                blocking=False,
                unknown=True,
            )
        )
    elif not facts.kyc_submitted:
        found.append(Prerequisite("KYC_FORM_MISSING", "A KYC form submission is required."))
    inherited_brand = facts.inherit_tcr_brand and facts.parent_has_brand
    if not (facts.has_own_brand or inherited_brand):
        found.append(
            Prerequisite(
                "BRAND_MISSING",
                "A brand is required, either on the profile or inherited from the parent "
                "organization.",
            )
        )
    inherited_campaigns = facts.inherit_tcr_campaign and facts.parent_has_campaigns
    if facts.is_tcr_application and not (facts.has_own_campaigns or inherited_campaigns):
        found.append(
            Prerequisite(
                "TCR_CAMPAIGN_MISSING",
                "TCR applications must have at least one campaign, own or inherited.",
            )
        )
    if facts.has_main_destination_country and facts.documents_uploaded is not True:
        unknown = facts.documents_uploaded is None
        found.append(
            Prerequisite(
                "COMPLIANCE_DOCUMENTS_MISSING",
                "Destination countries marked as main must have their required compliance "
                "documents uploaded" + ("; whether they are is unknown here." if unknown else "."),
                blocking=not unknown,
                unknown=unknown,
            )
        )
    if facts.is_tcr_application and not facts.tcr_choice_stated:
        found.append(
            Prerequisite(
                "TCR_INHERIT_CHOICE_MISSING",
                "TCR applications must state whether they inherit the organization's TCR brand "
                "and campaign: set inherit_tcr_brand and inherit_tcr_campaign.",
            )
        )
    return found


def unmet_prerequisites(facts: CompletionFacts) -> list[Prerequisite]:
    """Only the prerequisites that block ``/complete`` (known to be unmet)."""
    return [p for p in prerequisites(facts) if p.blocking]


def predict(facts: CompletionFacts) -> StatusDecision:
    """The outcome a completion that succeeds ends in, under the facts' revision.

    ``2026-03``: the Status Logic (rules 1-4). ``2026-10``: every onboarded profile reads
    ``approved``, which the engine concludes as ``completed`` (rule ``0``).
    """
    if facts.revision == REVISION_2026_10:
        return StatusDecision(
            Outcome.COMPLETED, 0, "2026-10: a profile whose completion succeeds reads approved"
        )
    return status_logic(facts)


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
