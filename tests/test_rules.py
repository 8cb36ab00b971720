"""Seed 002's prerequisites and Status Logic, checked on every combination of their inputs.

The expectations below are written line by line from the seed text (and the readings in
``sent-api.md`` section 0), independently of how :mod:`workflow.rules` is written.
"""

from __future__ import annotations

import itertools
from dataclasses import fields

import pytest

from workflow.rules import (
    CompletionFacts,
    Outcome,
    channel_presence,
    has_main_destination_country,
    prerequisites,
    status_logic,
    unmet_prerequisites,
)

#: The seed era's eleven boolean facts (the 2026-10 ones have defaults, tested elsewhere).
NAMES = [f.name for f in fields(CompletionFacts)][:11]
ALL_FACTS = [
    CompletionFacts(**dict(zip(NAMES, values, strict=True)))
    for values in itertools.product([False, True], repeat=len(NAMES))
]

# Seed 002, "Prerequisites", one row a line: (code, blocking, applies-when).
PREREQUISITE_TABLE = [
    ("PROFILE_INCOMPLETE", True, lambda f: not f.profile_complete),  # Profile must be completed
    # If inheritTcrBrand=false: Profile must have existing brand
    ("OWN_BRAND_MISSING", True, lambda f: not f.inherit_tcr_brand and not f.has_own_brand),
    # If inheritTcrBrand=true: Parent must have existing brand
    ("PARENT_BRAND_MISSING", True, lambda f: f.inherit_tcr_brand and not f.parent_has_brand),
    # If TCR application: Must have at least one campaign (own or inherited)
    (
        "TCR_CAMPAIGN_MISSING",
        True,
        lambda f: (
            f.is_tcr_application
            and not f.has_own_campaigns
            and not (f.inherit_tcr_campaign and f.parent_has_campaigns)
        ),
    ),
    # If inheritTcrCampaign=false: Profile *should* have campaigns (a warning)
    (
        "OWN_CAMPAIGNS_RECOMMENDED",
        False,
        lambda f: not f.inherit_tcr_campaign and not f.has_own_campaigns,
    ),
    # If inheritTcrCampaign=true: Parent must have campaigns
    (
        "PARENT_CAMPAIGNS_MISSING",
        True,
        lambda f: f.inherit_tcr_campaign and not f.parent_has_campaigns,
    ),
]

# Seed 002, "Status Logic", first matching row wins; "*" is any value.
# columns: sms, whatsapp, tcr, inherit_brand, inherit_campaign, main_country -> outcome, rule
STATUS_TABLE = [
    ((False, False, "*", "*", "*", "*"), Outcome.SUBMITTED, 1),
    (("*", "*", True, False, "*", "*"), Outcome.SUBMITTED, 2),
    (("*", "*", True, "*", False, "*"), Outcome.SUBMITTED, 2),
    (("*", "*", False, "*", "*", True), Outcome.SUBMITTED, 3),
    (("*", "*", "*", "*", "*", "*"), Outcome.COMPLETED, 4),
]


def _expected_status(f: CompletionFacts) -> tuple[Outcome, int]:
    row = (
        f.has_sms,
        f.has_whatsapp,
        f.is_tcr_application,
        f.inherit_tcr_brand,
        f.inherit_tcr_campaign,
        f.has_main_destination_country,
    )
    for pattern, outcome, rule in STATUS_TABLE:
        if all(p == "*" or p == v for p, v in zip(pattern, row, strict=True)):
            return outcome, rule
    raise AssertionError("the table's last row matches everything")


def test_every_combination_is_covered() -> None:
    """2^11 combinations of the eleven boolean facts are all checked."""
    assert len(ALL_FACTS) == 2 ** len(NAMES) == 2048


@pytest.mark.parametrize(
    "facts", ALL_FACTS[::1], ids=lambda f: "".join("1" if getattr(f, n) else "0" for n in NAMES)
)
def test_prerequisites_and_status_match_the_seed_table(facts: CompletionFacts) -> None:
    """Each combination yields exactly the seed's unmet prerequisites and Status Logic outcome."""
    found = {p.code: p for p in prerequisites(facts)}
    expected = {code: blocking for code, blocking, applies in PREREQUISITE_TABLE if applies(facts)}
    assert set(found) == set(expected)
    for code, blocking in expected.items():
        assert found[code].blocking is blocking
        assert found[code].message.endswith(".")
    assert {p.code for p in unmet_prerequisites(facts)} == {c for c, b in expected.items() if b}
    decision = status_logic(facts)
    assert (decision.outcome, decision.rule) == _expected_status(facts)


def test_status_logic_rule_order_matters() -> None:
    """A TCR application with no channels is decided by rule 1, not rule 2."""
    facts = CompletionFacts(
        profile_complete=True, inherit_tcr_brand=False, inherit_tcr_campaign=False,
        has_own_brand=True, parent_has_brand=False, is_tcr_application=True,
        has_own_campaigns=True, parent_has_campaigns=False, has_sms=False, has_whatsapp=False,
        has_main_destination_country=True,
    )  # fmt: skip
    assert status_logic(facts).rule == 1
    assert status_logic(facts).outcome is Outcome.SUBMITTED


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
