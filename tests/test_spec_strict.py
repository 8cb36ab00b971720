"""Spec types and sizes as strict as the Sent API: every field typed, sized and known."""

from __future__ import annotations

import tracemalloc
from datetime import date
from typing import Any

import pytest

from workflow.errors import SpecError
from workflow.spec import parse_spec
from workflow.validation import (
    MAX_NAME_CHARS,
    MAX_TEXT_CHARS,
    MAX_URL_CHARS,
    SHORT_NAME_RULE,
    validate_idempotency_key,
)


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path (``brand.compliance.destinationCountries.0.isMain``) in a raw spec."""
    *parents, last = path.split(".")
    node: Any = raw
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value


def _api_path(path: str) -> str:
    """The problem path for a dotted test path: list indexes in brackets."""
    out = ""
    for part in path.split("."):
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _details(raw: dict[str, Any], today: date) -> dict[str, list[str]]:
    try:
        parse_spec(raw, today=today)
    except SpecError as exc:
        return exc.as_details()
    return {}


BOOLEAN = "must be true or false"
STRING = "must be a string"
BAD_TYPES = [
    # (dotted path, bad value, message after the API path)
    ("profile.allow_contact_sharing", "true", BOOLEAN),
    ("profile.allow_template_sharing", 0, BOOLEAN),
    ("profile.inherit_contacts", 1, BOOLEAN),
    ("profile.inherit_templates", "false", BOOLEAN),
    ("profile.inherit_tcr_campaign", "no", BOOLEAN),
    ("profile.sandbox", "false", BOOLEAN),
    ("profile.name", 123, STRING),
    ("profile.short_name", 12345, STRING),
    ("profile.description", ["text"], STRING),
    ("profile.icon", 5, STRING),
    ("profile.billing_contact.name", 5, STRING),
    ("profile.billing_contact.phone", 2025551234, STRING),
    ("profile.billing_contact.address", {"street": "x"}, STRING),
    ("profile.payment_details.zip_code", 10001, STRING),
    ("profile.whatsapp_business_account.waba_id", 123456789012345, STRING),
    ("profile.whatsapp_business_account.phone_number_id", 987, STRING),
    ("brand.contact.name", 5, STRING),
    ("brand.contact.businessName", True, STRING),
    ("brand.contact.phone", 12025551234, STRING),
    ("brand.contact.phoneCountryCode", 1, STRING),
    ("brand.business.taxId", 123456789, STRING),
    ("brand.business.country", ["US"], STRING),
    ("brand.compliance.isTcrApplication", "true", BOOLEAN),
    ("brand.compliance.isTcrApplication", 1, BOOLEAN),
    ("brand.compliance.destinationCountries.0.isMain", "no", BOOLEAN),
    ("brand.compliance.destinationCountries.0.isMain", None, BOOLEAN),
    ("brand.compliance.destinationCountries.0.id", 1, STRING),
    ("brand.compliance.destinationCountries", {"id": "US"}, "must be a list"),
    ("brand.compliance.destinationCountries.0", "US", "must be an object"),
    ("brand.compliance.expectedMessagingVolume", 10000, STRING),
    ("brand.compliance.phoneNumberPrefix", 1, STRING),
    ("brand.compliance.notes", ["x"], STRING),
    ("brand.compliance.primaryUseCase", False, STRING),
    ("brand.business", "Acme", "must be an object"),
    ("campaigns.0.name", 5, STRING),
    ("campaigns.0.description", 5.5, STRING),
    ("campaigns.0.type", 1, STRING),
    ("campaigns.0.helpKeywords", ["HELP"], STRING),
    ("campaigns.0.helpMessage", 1, STRING),
    ("campaigns.0.messageFlow", 1, STRING),
    ("campaigns.0.optinKeywords", 1, STRING),
    ("campaigns.0.optinMessage", 1, STRING),
    ("campaigns.0.optoutKeywords", 1, STRING),
    ("campaigns.0.optoutMessage", 1, STRING),
    ("campaigns.0.privacyPolicyLink", 1, STRING),
    ("campaigns.0.termsAndConditionsLink", 1, STRING),
    ("campaigns.0.useCases.0", "MARKETING", "must be an object"),
    ("channels.allow_number_change_during_onboarding", "yes", BOOLEAN),
    ("channels.sending_phone_number", 12025550101, STRING),
    ("channels.sending_phone_number_profile_id", 1, STRING),
]  # fmt: skip


@pytest.mark.parametrize(("path", "value", "rule"), BAD_TYPES)
def test_wrong_types_are_refused_with_path_and_rule(
    path: str, value: Any, rule: str, secret_spec: dict[str, Any], today: date
) -> None:
    """A value of the wrong JSON type is refused at its path, saying the type it must have."""
    _set(secret_spec, path, value)
    details = _details(secret_spec, today)
    where = _api_path(path)
    section, _, api = where.partition(".")
    subject = api if section in ("profile", "channels") else where
    assert details == {where: [f"{subject} {rule}"]}


def test_enum_and_sample_message_types_keep_the_api_words(
    secret_spec: dict[str, Any], today: date
) -> None:
    """Enumerations and sample messages of the wrong type get the rule the API states."""
    _set(secret_spec, "brand.business.entityType", "LLC")
    _set(secret_spec, "campaigns.0.useCases.0.messagingUseCaseUs", 1)
    _set(secret_spec, "campaigns.0.useCases.0.sampleMessages", ["ok", 5])
    details = _details(secret_spec, today)
    assert details["brand.business.entityType"][0].startswith(
        "brand.business.entityType must be one of: PRIVATE_PROFIT"
    )
    assert details["campaigns[0].useCases[0].messagingUseCaseUs"][0].startswith(
        "campaigns[0].useCases[0].messagingUseCaseUs must be one of: MARKETING"
    )
    assert details["campaigns[0].useCases[0].sampleMessages[1]"] == [
        "sample message must be non-empty text"
    ]
    _set(secret_spec, "campaigns.0.useCases.0.sampleMessages", "hello")
    assert _details(secret_spec, today)["campaigns[0].useCases[0].sampleMessages"] == [
        "campaigns[0].useCases[0].sampleMessages must hold 1–5 sample messages"
    ]


def test_organization_facts_are_strict_booleans(secret_spec: dict[str, Any], today: date) -> None:
    """Organization facts take real booleans only (no 'true' strings, no 1/0)."""
    secret_spec["organization"] = {"has_brand": "true", "has_campaigns": 1}
    details = _details(secret_spec, today)
    assert set(details) == {"organization.has_brand", "organization.has_campaigns"}


UNKNOWN = [
    "brand.nickname", "brand.contact.nickname", "brand.business.founded",
    "brand.compliance.tier", "brand.compliance.destinationCountries.0.name",
    "campaigns.0.volume", "campaigns.0.useCases.0.weight",
    "profile.billing_contact.fax", "profile.payment_details.pin",
    "profile.whatsapp_business_account.app_id", "profile.email", "channels.sms",
]  # fmt: skip


@pytest.mark.parametrize("path", UNKNOWN)
def test_unknown_fields_are_refused(path: str, secret_spec: dict[str, Any], today: date) -> None:
    """A field the API does not define, at any level, is refused as an unknown field."""
    _set(secret_spec, path, "x")
    assert _details(secret_spec, today) == {_api_path(path): ["unknown field"]}


def test_a_huge_unknown_field_name_is_shortened_in_the_path(
    secret_spec: dict[str, Any], today: date
) -> None:
    """An unknown field's name is cut in the problem path, so a message stays short."""
    secret_spec["brand"]["contact"]["n" * 100_000] = "x"
    (path,) = _details(secret_spec, today)
    assert path.startswith("brand.contact.nnn")
    assert len(path) < 120


def test_nulls_are_accepted_where_the_api_allows_them(
    secret_spec: dict[str, Any], today: date
) -> None:
    """Optional brand and campaign fields may be null, as in the seeds' examples."""
    for path in (
        "brand.business.url", "brand.compliance.notes", "brand.compliance.destinationCountries",
        "brand.contact.role", "campaigns.0.helpKeywords", "campaigns.0.privacyPolicyLink",
        "profile.billing_contact.phone", "profile.whatsapp_business_account.phone_number_id",
    ):  # fmt: skip
        _set(secret_spec, path, None)
    assert parse_spec(secret_spec, today=today).key == "secret-spec"


LIMITS = [
    ("profile.name", MAX_NAME_CHARS),
    ("profile.description", MAX_TEXT_CHARS),
    ("profile.icon", MAX_URL_CHARS),
    ("profile.billing_contact.name", MAX_NAME_CHARS),
    ("profile.billing_contact.email", MAX_NAME_CHARS),
    ("profile.billing_contact.phone", MAX_NAME_CHARS),
    ("profile.billing_contact.address", MAX_TEXT_CHARS),
    ("profile.payment_details.zip_code", MAX_NAME_CHARS),
    ("profile.whatsapp_business_account.waba_id", MAX_NAME_CHARS),
    ("profile.whatsapp_business_account.phone_number_id", MAX_NAME_CHARS),
    ("profile.whatsapp_business_account.access_token", MAX_TEXT_CHARS),
    ("brand.contact.name", MAX_NAME_CHARS),
    ("brand.contact.email", MAX_NAME_CHARS),
    ("brand.business.legalName", MAX_NAME_CHARS),
    ("brand.business.url", MAX_URL_CHARS),
    ("brand.compliance.notes", MAX_TEXT_CHARS),
    ("brand.compliance.primaryUseCase", MAX_TEXT_CHARS),
    ("brand.compliance.destinationCountries.0.id", MAX_NAME_CHARS),
    ("campaigns.0.name", MAX_NAME_CHARS),
    ("campaigns.0.description", MAX_TEXT_CHARS),
    ("campaigns.0.type", MAX_NAME_CHARS),
    ("campaigns.0.helpKeywords", MAX_NAME_CHARS),
    ("campaigns.0.optoutMessage", MAX_TEXT_CHARS),
    ("campaigns.0.messageFlow", MAX_TEXT_CHARS),
    ("campaigns.0.termsAndConditionsLink", MAX_URL_CHARS),
    ("channels.sending_phone_number", MAX_NAME_CHARS),
    ("channels.whatsapp_phone_number", MAX_NAME_CHARS),
]


@pytest.mark.parametrize(("path", "limit"), LIMITS)
def test_string_limits(path: str, limit: int, secret_spec: dict[str, Any], today: date) -> None:
    """Each string field takes up to its limit and refuses one character more."""
    _set(secret_spec, path, "a" * limit)
    assert _details(secret_spec, today) == {}
    _set(secret_spec, path, "a" * (limit + 1))
    where = _api_path(path)
    section, _, api = where.partition(".")
    subject = api if section in ("profile", "channels") else where
    assert _details(secret_spec, today) == {
        where: [f"{subject} must be at most {limit} characters"]
    }


@pytest.mark.timeout(60)
def test_a_50_mb_field_is_refused_quickly_without_echoing_it(
    secret_spec: dict[str, Any], today: date
) -> None:
    """A 50 MB description is refused by its length, without a copy of it (the peak of new
    allocations stays far below its size); the message does not quote it."""
    secret_spec["profile"]["description"] = "x" * (50 * 1024 * 1024)
    tracemalloc.start()
    try:
        with pytest.raises(SpecError) as caught:
            parse_spec(secret_spec, today=today)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * 1024 * 1024
    assert caught.value.as_details() == {
        "profile.description": ["description must be at most 5000 characters"]
    }
    assert len(str(caught.value)) < 300


def test_list_sizes_are_bounded(secret_spec: dict[str, Any], today: date) -> None:
    """Lists the API leaves open are bounded too; sample messages hold 1–5 as documented."""
    countries = [{"id": "US", "isMain": False}] * 101
    _set(secret_spec, "brand.compliance.destinationCountries", countries)
    details = _details(secret_spec, today)
    assert details == {
        "brand.compliance.destinationCountries": [
            "brand.compliance.destinationCountries must hold at most 100 items"
        ]
    }


@pytest.mark.parametrize("path", ["key", "profile.short_name"])
def test_trailing_newline_is_refused(path: str, secret_spec: dict[str, Any], today: date) -> None:
    """'abc\\n' is not 'abc': key and short_name patterns match the whole string."""
    _set(secret_spec, path, "Sales\n")
    details = _details(secret_spec, today)
    assert list(details) == [path]
    if path == "profile.short_name":
        assert details[path] == [SHORT_NAME_RULE]


@pytest.mark.parametrize("key", ["abc\n", "abc\r", "a" * 256, "", "a b", "ключ"])
def test_idempotency_key_pattern_is_anchored(key: str) -> None:
    """Idempotency keys are 1–255 of [A-Za-z0-9_-], the whole string, nothing after."""
    assert validate_idempotency_key(key) != []


def test_idempotency_key_at_its_limits_is_accepted() -> None:
    """One character and 255 characters of the allowed alphabet are fine."""
    assert validate_idempotency_key("a") == []
    assert validate_idempotency_key("a_-9" * 63 + "abc") == []


def test_the_shared_rule_texts_and_limits_are_fixed() -> None:
    """The spec validator and the sandbox share these; the tests above quote them by name, so
    they are pinned here: seed 004's short_name message word for word, and the chosen limits."""
    assert SHORT_NAME_RULE == (
        "short_name must be 3–11 characters, contain only letters, numbers, and spaces, "
        "and include at least one letter"
    )
    assert (MAX_NAME_CHARS, MAX_TEXT_CHARS, MAX_URL_CHARS) == (255, 5000, 2048)
