"""Seed 002's prerequisites and Status Logic, checked against fixed cases written from the seed.

Each row below is one case read off seed 002 (``/work/shared/seeds/002_*``, "Prerequisites" and
"Status Logic") and the readings of ``sent-api.md`` section 0, with its expected answer written
out: no row computes its expectation from a rule. The hypothesis properties state what the seed
says about the rules as a whole (which facts each part may look at, which rows win first).
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, strategies as st

from workflow.rules import (
    CompletionFacts,
    Outcome,
    channel_presence,
    has_main_destination_country,
    prerequisites,
    status_logic,
    unmet_prerequisites,
)

#: A profile with nothing missing: general data filled in, brand and campaigns inherited from a
#: parent that has both, not a TCR application, SMS and WhatsApp present, no main country.
READY = CompletionFacts(
    profile_complete=True, inherit_tcr_brand=True, inherit_tcr_campaign=True, has_own_brand=False,
    parent_has_brand=True, is_tcr_application=False, has_own_campaigns=False,
    parent_has_campaigns=True, has_sms=True, has_whatsapp=True, has_main_destination_country=False,
)  # fmt: skip

WARN = "OWN_CAMPAIGNS_RECOMMENDED"  # the one prerequisite that does not block ("should")
S, C = Outcome.SUBMITTED, Outcome.COMPLETED

# (case, facts changed from READY, every prerequisite found in the seed's order, outcome, rule)
CASES: list[tuple[str, dict[str, bool], list[str], Outcome, int]] = [
    ("ready", {}, [], C, 4),
    # Prerequisites: "Profile must be completed"
    ("general data missing", {"profile_complete": False}, ["PROFILE_INCOMPLETE"], C, 4),
    # "If inheritTcrBrand=false: Profile must have existing brand"
    ("own brand missing", {"inherit_tcr_brand": False}, ["OWN_BRAND_MISSING"], C, 4),
    ("own brand present", {"inherit_tcr_brand": False, "has_own_brand": True}, [], C, 4),
    ("own brand, parent has none", {"inherit_tcr_brand": False, "has_own_brand": True, "parent_has_brand": False}, [], C, 4),
    # "If inheritTcrBrand=true: Parent must have existing brand"
    ("parent brand missing", {"parent_has_brand": False}, ["PARENT_BRAND_MISSING"], C, 4),
    ("parent brand missing, own one no help", {"parent_has_brand": False, "has_own_brand": True}, ["PARENT_BRAND_MISSING"], C, 4),
    # "If TCR application: Must have at least one campaign (own or inherited)"
    ("TCR, inherited campaigns", {"is_tcr_application": True}, [], C, 4),
    ("TCR, own campaigns only", {"is_tcr_application": True, "inherit_tcr_campaign": False, "has_own_campaigns": True}, [], S, 2),
    ("TCR, no campaign at all", {"is_tcr_application": True, "inherit_tcr_campaign": False}, ["TCR_CAMPAIGN_MISSING", WARN], S, 2),
    ("TCR, inherits from a parent without", {"is_tcr_application": True, "parent_has_campaigns": False}, ["TCR_CAMPAIGN_MISSING", "PARENT_CAMPAIGNS_MISSING"], C, 4),
    ("TCR, own campaigns, inherits from a parent without", {"is_tcr_application": True, "parent_has_campaigns": False, "has_own_campaigns": True}, ["PARENT_CAMPAIGNS_MISSING"], C, 4),
    # "If inheritTcrCampaign=false: Profile should have campaigns" (a warning, section 0)
    ("non-TCR, no own campaigns", {"inherit_tcr_campaign": False}, [WARN], C, 4),
    ("non-TCR, own campaigns", {"inherit_tcr_campaign": False, "has_own_campaigns": True}, [], C, 4),
    ("not inheriting, parent has none", {"inherit_tcr_campaign": False, "has_own_campaigns": True, "parent_has_campaigns": False}, [], C, 4),
    # "If inheritTcrCampaign=true: Parent must have campaigns"
    ("parent campaigns missing", {"parent_has_campaigns": False}, ["PARENT_CAMPAIGNS_MISSING"], C, 4),
    ("parent campaigns missing, own no help", {"parent_has_campaigns": False, "has_own_campaigns": True}, ["PARENT_CAMPAIGNS_MISSING"], C, 4),
    ("everything missing, in the seed's order",
     {"profile_complete": False, "inherit_tcr_brand": False, "is_tcr_application": True, "inherit_tcr_campaign": False, "parent_has_brand": False, "parent_has_campaigns": False},
     ["PROFILE_INCOMPLETE", "OWN_BRAND_MISSING", "TCR_CAMPAIGN_MISSING", WARN], S, 2),
    # Status Logic 1: "If both SMS and WhatsApp channels are missing -> SUBMITTED"
    ("no channel", {"has_sms": False, "has_whatsapp": False}, [], S, 1),
    ("SMS only", {"has_whatsapp": False}, [], C, 4),
    ("WhatsApp only", {"has_sms": False}, [], C, 4),
    ("no channel beats rule 2", {"has_sms": False, "has_whatsapp": False, "is_tcr_application": True, "inherit_tcr_brand": False, "has_own_brand": True}, [], S, 1),
    ("no channel beats rule 3", {"has_sms": False, "has_whatsapp": False, "has_main_destination_country": True}, [], S, 1),
    # 2: "If TCR application and not inheriting brand/campaigns -> SUBMITTED" (both, section 0)
    ("TCR, own brand", {"is_tcr_application": True, "inherit_tcr_brand": False, "has_own_brand": True}, [], S, 2),
    ("TCR, own brand and campaigns", {"is_tcr_application": True, "inherit_tcr_brand": False, "has_own_brand": True, "inherit_tcr_campaign": False, "has_own_campaigns": True}, [], S, 2),
    ("TCR, own brand, main country", {"is_tcr_application": True, "inherit_tcr_brand": False, "has_own_brand": True, "has_main_destination_country": True}, [], S, 2),
    ("non-TCR, own brand and campaigns", {"inherit_tcr_brand": False, "has_own_brand": True, "inherit_tcr_campaign": False, "has_own_campaigns": True}, [], C, 4),
    # 3: "If non-TCR with destination country (IsMain=true) -> SUBMITTED"
    ("non-TCR, main country", {"has_main_destination_country": True}, [], S, 3),
    ("non-TCR, main country, SMS only", {"has_main_destination_country": True, "has_whatsapp": False}, [], S, 3),
    ("TCR inheriting both, main country", {"is_tcr_application": True, "has_main_destination_country": True}, [], C, 4),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "found", "outcome", "rule"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_prerequisites_and_status_of_the_seed_cases(
    changes: dict[str, bool], found: list[str], outcome: Outcome, rule: int
) -> None:
    """Each case yields the seed's prerequisites, in order, and its Status Logic row."""
    facts = dataclasses.replace(READY, **changes)
    assert [p.code for p in prerequisites(facts)] == found
    assert [p.code for p in unmet_prerequisites(facts)] == [c for c in found if c != WARN]
    assert all(p.blocking is (p.code != WARN) for p in prerequisites(facts))
    decision = status_logic(facts)
    assert (decision.outcome, decision.rule) == (outcome, rule)


FACTS = st.builds(
    CompletionFacts, **{f.name: st.booleans() for f in dataclasses.fields(CompletionFacts)}
)
#: What seed 002's Status Logic names: channels, TCR, inheritance, main country.
STATUS_INPUTS = {
    "has_sms", "has_whatsapp", "is_tcr_application", "inherit_tcr_brand", "inherit_tcr_campaign",
    "has_main_destination_country",
}  # fmt: skip
#: What its prerequisites name: general data, brands, campaigns, inheritance, TCR.
PREREQUISITE_INPUTS = {
    "profile_complete", "inherit_tcr_brand", "inherit_tcr_campaign", "has_own_brand",
    "parent_has_brand", "is_tcr_application", "has_own_campaigns", "parent_has_campaigns",
}  # fmt: skip


@given(FACTS, FACTS)
def test_each_part_reads_only_the_facts_the_seed_names(
    a: CompletionFacts, b: CompletionFacts
) -> None:
    """Status Logic ignores brands/campaigns owned; prerequisites ignore channels and countries."""
    status_mix = dataclasses.replace(b, **{n: getattr(a, n) for n in STATUS_INPUTS})
    assert status_logic(status_mix) == status_logic(a)
    prereq_mix = dataclasses.replace(b, **{n: getattr(a, n) for n in PREREQUISITE_INPUTS})
    assert prerequisites(prereq_mix) == prerequisites(a)


@given(FACTS)
def test_rule_numbers_and_outcomes_agree(facts: CompletionFacts) -> None:
    """Rules 1-3 answer SUBMITTED and only rule 4 COMPLETED; every message is one sentence."""
    decision = status_logic(facts)
    assert (decision.outcome is Outcome.COMPLETED) == (decision.rule == 4)
    if not facts.has_sms and not facts.has_whatsapp:
        assert decision.rule == 1
    found = prerequisites(facts)
    assert len({p.code for p in found}) == len(found)
    assert all(p.message.endswith(".") and "\n" not in p.message for p in found)
    assert [p for p in found if p.blocking] == unmet_prerequisites(facts)


@pytest.mark.parametrize(
    ("profile", "inherited_number", "expected"),
    [
        ({}, False, (False, False)),
        ({"sending_phone_number": "+12025550101"}, False, (True, False)),
        ({"sending_phone_number_profile_id": "p-1"}, False, (True, False)),
        ({"whatsapp_phone_number": "+12025550101"}, False, (False, True)),
        ({"sending_whatsapp_number_profile_id": "p-2"}, False, (False, True)),
        (
            {"whatsapp_business_account": {"waba_id": "1", "phone_number_id": "9"}},
            False,
            (False, True),
        ),
        ({"whatsapp_business_account": {"waba_id": "1"}}, True, (False, False)),
        ({}, True, (False, True)),
        ({"sending_phone_number": "  "}, False, (False, False)),
    ],
)
def test_channel_presence_follows_section_0(
    profile: dict[str, object], inherited_number: bool, expected: tuple[bool, bool]
) -> None:
    """SMS and WhatsApp presence is read from the number fields and the WhatsApp account."""
    assert channel_presence(profile, inherited_waba_has_phone_number=inherited_number) == expected


@pytest.mark.parametrize(
    ("compliance", "expected"),
    [
        (None, False),
        ({"destinationCountries": []}, False),
        ({"destinationCountries": [{"id": "US", "isMain": False}]}, False),
        (
            {"destinationCountries": [{"id": "US", "isMain": False}, {"id": "CA", "isMain": True}]},
            True,
        ),
        ({"destination_countries": [{"id": "US", "isMain": True}]}, True),
    ],
)
def test_main_destination_country(compliance: dict[str, object] | None, expected: bool) -> None:
    """A main destination country is any entry with isMain true, request or response casing."""
    assert has_main_destination_country(compliance) is expected
