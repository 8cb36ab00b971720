"""The Sent API's request rules as pure functions over wire-shaped bodies.

Both sides use these: the spec validator checks a caller's onboarding locally before any API
call, and the sandbox answers ``VALIDATION_001`` with the very same paths and sentences. Every
function returns *every* problem it finds (never the first only), keyed by the field path the
API uses in ``error.details``; callers add their own prefix (``profile.``, ``campaigns[2].``).

Messages that the seeds show are reproduced word for word; the others follow their style.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any, Final

from workflow.errors import Problem

__all__ = [
    "BILLING_MODELS",
    "BRAND_RELATIONSHIPS",
    "ENTITY_TYPES",
    "MESSAGING_USE_CASES",
    "VERTICALS",
    "validate_brand",
    "validate_campaign",
    "validate_idempotency_key",
    "validate_profile_body",
]

BILLING_MODELS: Final = ("organization", "profile", "profile_and_organization")
PROFILE_BILLING_MODELS: Final = ("profile", "profile_and_organization")
VERTICALS: Final = (
    "PROFESSIONAL", "REAL_ESTATE", "HEALTHCARE", "HUMAN_RESOURCES", "ENERGY", "ENTERTAINMENT",
    "RETAIL", "TRANSPORTATION", "AGRICULTURE", "INSURANCE", "POSTAL", "EDUCATION", "HOSPITALITY",
    "FINANCIAL", "POLITICAL", "GAMBLING", "LEGAL", "CONSTRUCTION", "NGO", "MANUFACTURING",
    "GOVERNMENT", "TECHNOLOGY", "COMMUNICATION",
)  # fmt: skip
BRAND_RELATIONSHIPS: Final = (
    "BASIC_ACCOUNT", "SMALL_ACCOUNT", "MEDIUM_ACCOUNT", "LARGE_ACCOUNT", "KEY_ACCOUNT",
)  # fmt: skip
ENTITY_TYPES: Final = (
    "PRIVATE_PROFIT", "PUBLIC_PROFIT", "NON_PROFIT", "SOLE_PROPRIETOR", "GOVERNMENT",
)  # fmt: skip
MESSAGING_USE_CASES: Final = (
    "MARKETING", "ACCOUNT_NOTIFICATION", "CUSTOMER_CARE", "FRAUD_ALERT", "TWO_FA",
    "DELIVERY_NOTIFICATION", "SECURITY_ALERT", "M2M", "MIXED", "HIGHER_EDUCATION",
    "POLLING_VOTING", "PUBLIC_SERVICE_ANNOUNCEMENT", "LOW_VOLUME",
)  # fmt: skip

NAME_REQUIRED: Final = "Profile name is required"
SHORT_NAME_RULE: Final = (
    "short_name must be 3–11 characters, contain only letters, numbers, and spaces, "
    "and include at least one letter"
)
EXPIRY_FORMAT: Final = "payment_details.expiry must be in MM/YY format (e.g. '09/27')"
BRAND_WITH_INHERIT: Final = "Cannot provide brand data when inherit_tcr_brand is true."
MAX_SAMPLE_MESSAGE_CHARS: Final = 1024
MAX_SAMPLE_MESSAGES: Final = 5

_SHORT_NAME = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{3,11}$")
_EXPIRY = re.compile(r"^(0[1-9]|1[0-2])/(\d{2})$")
_IDEMPOTENCY_KEY = re.compile(r"^[a-zA-Z0-9_-]{1,255}$")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _one_of(value: object, allowed: tuple[str, ...], path: str) -> list[Problem]:
    if value is None or value in allowed:
        return []
    return [Problem(path, f"{path} must be one of: {', '.join(allowed)}")]


def _object(value: object, path: str, problems: list[Problem]) -> Mapping[str, Any] | None:
    """The value as a JSON object, or ``None`` (with a problem when it is something else)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value
    problems.append(Problem(path, f"{path} must be an object"))
    return None


def validate_idempotency_key(key: object, path: str = "Idempotency-Key") -> list[Problem]:
    """Check an Idempotency-Key against ``^[a-zA-Z0-9_-]+$``, 1 to 255 characters."""
    if isinstance(key, str) and _IDEMPOTENCY_KEY.match(key):
        return []
    return [
        Problem(path, f"{path} must be 1–255 characters: letters, digits, hyphens or underscores")
    ]


def _validate_payment_details(details: Mapping[str, Any], today: date) -> list[Problem]:
    problems: list[Problem] = []
    card = details.get("card_number")
    if not (isinstance(card, str) and card.isdigit() and 13 <= len(card) <= 19):
        problems.append(
            Problem(
                "payment_details.card_number", "payment_details.card_number must be 13–19 digits"
            )
        )
    expiry = details.get("expiry")
    match = _EXPIRY.match(expiry) if isinstance(expiry, str) else None
    if match is None:
        problems.append(Problem("payment_details.expiry", EXPIRY_FORMAT))
    else:
        month, year = int(match.group(1)), 2000 + int(match.group(2))
        if (year, month) < (today.year, today.month):
            problems.append(
                Problem("payment_details.expiry", "payment_details.expiry must not be in the past")
            )
    cvc = details.get("cvc")
    if not (isinstance(cvc, str) and cvc.isdigit() and 3 <= len(cvc) <= 4):
        problems.append(Problem("payment_details.cvc", "payment_details.cvc must be 3–4 digits"))
    if _blank(details.get("zip_code")):
        problems.append(Problem("payment_details.zip_code", "payment_details.zip_code is required"))
    return problems


def _validate_billing(
    body: Mapping[str, Any], today: date, current: Mapping[str, Any] | None
) -> list[Problem]:
    problems: list[Problem] = []
    billing_model = body.get("billing_model")
    if billing_model is None:
        billing_model = current.get("billing_model", "profile") if current else "profile"
    problems += _one_of(billing_model, BILLING_MODELS, "billing_model")
    contact = _object(body.get("billing_contact"), "billing_contact", problems)
    has_contact = contact is not None or bool(current and current.get("billing_contact"))
    if billing_model in PROFILE_BILLING_MODELS and not has_contact:
        problems.append(
            Problem(
                "billing_contact",
                "billing_contact is required when billing_model is 'profile' or "
                "'profile_and_organization'",
            )
        )
    if contact is not None:
        for field in ("name", "email"):
            if _blank(contact.get(field)):
                path = f"billing_contact.{field}"
                problems.append(Problem(path, f"{path} is required"))
    payment = _object(body.get("payment_details"), "payment_details", problems)
    if payment is not None:
        if billing_model == "organization":
            problems.append(
                Problem(
                    "payment_details",
                    "payment_details is not allowed when billing_model is 'organization'",
                )
            )
        problems += _validate_payment_details(payment, today)
    return problems


def validate_profile_body(
    body: Mapping[str, Any],
    *,
    today: date,
    current: Mapping[str, Any] | None = None,
) -> list[Problem]:
    """Every problem in a ``POST /v3/profiles`` body, or a ``PATCH`` body when ``current`` is given.

    Args:
        body: the request body, snake_case at the top level, ``brand`` camelCase inside.
        today: the date card expiry is judged against (passed in: the core has no clock).
        current: for an update, the stored profile the partial body applies to.

    Returns:
        Problems keyed by the API's field paths (``short_name``, ``payment_details.expiry``).
    """
    problems: list[Problem] = []
    updating = current is not None
    name = body.get("name")
    if (not updating and _blank(name)) or (updating and "name" in body and name == ""):
        problems.append(Problem("name", NAME_REQUIRED))
    short_name = body.get("short_name")
    if short_name is not None and not (
        isinstance(short_name, str) and _SHORT_NAME.match(short_name)
    ):
        problems.append(Problem("short_name", SHORT_NAME_RULE))
    problems += _validate_billing(body, today, current)

    inherit_brand = body.get("inherit_tcr_brand")
    if inherit_brand is None:
        inherit_brand = current.get("inherit_tcr_brand", True) if current else True
    brand = _object(body.get("brand"), "brand", problems)
    if brand is not None:
        if inherit_brand:
            problems.append(Problem("brand", BRAND_WITH_INHERIT))
        problems += validate_brand(brand)

    waba = body.get("whatsapp_business_account")
    if updating and waba is not None:
        problems.append(
            Problem(
                "whatsapp_business_account",
                "whatsapp_business_account can only be set when the profile is created",
            )
        )
    waba_object = _object(waba, "whatsapp_business_account", problems)
    if waba_object is not None and not updating:
        for field in ("waba_id", "access_token"):
            if _blank(waba_object.get(field)):
                path = f"whatsapp_business_account.{field}"
                problems.append(Problem(path, f"{path} is required"))
    return problems


def validate_brand(brand: Mapping[str, Any], prefix: str = "brand") -> list[Problem]:
    """Every problem in a request ``brand`` object (camelCase: contact, business, compliance)."""
    problems: list[Problem] = []
    contact = _object(brand.get("contact"), _join(prefix, "contact"), problems)
    if contact is None:
        problems.append(
            Problem(_join(prefix, "contact"), f"{_join(prefix, 'contact')} is required")
        )
    elif _blank(contact.get("name")):
        path = _join(prefix, "contact.name")
        problems.append(Problem(path, f"{path} is required"))

    business = _object(brand.get("business"), _join(prefix, "business"), problems)
    if business is not None:
        problems += _one_of(
            business.get("entityType"), ENTITY_TYPES, _join(prefix, "business.entityType")
        )

    compliance = _object(brand.get("compliance"), _join(prefix, "compliance"), problems)
    if compliance is None:
        path = _join(prefix, "compliance")
        problems.append(Problem(path, f"{path} is required"))
        return problems
    for field, allowed in (("vertical", VERTICALS), ("brandRelationship", BRAND_RELATIONSHIPS)):
        path = _join(prefix, f"compliance.{field}")
        if _blank(compliance.get(field)):
            problems.append(Problem(path, f"{path} is required"))
        else:
            problems += _one_of(compliance.get(field), allowed, path)
    countries = compliance.get("destinationCountries")
    if countries is not None:
        path = _join(prefix, "compliance.destinationCountries")
        if not isinstance(countries, list):
            problems.append(Problem(path, f"{path} must be a list"))
        else:
            for index, country in enumerate(countries):
                item = f"{path}[{index}]"
                if not isinstance(country, Mapping) or _blank(country.get("id")):
                    problems.append(Problem(f"{item}.id", f"{item}.id is required"))
    return problems


def validate_campaign(campaign: Mapping[str, Any], prefix: str = "campaign") -> list[Problem]:
    """Every problem in a request campaign (camelCase): name, description, type, use cases."""
    problems: list[Problem] = []
    for field in ("name", "description", "type"):
        if _blank(campaign.get(field)):
            path = _join(prefix, field)
            problems.append(Problem(path, f"{path} is required"))
    use_cases = campaign.get("useCases")
    path = _join(prefix, "useCases")
    if not isinstance(use_cases, list) or not use_cases:
        problems.append(Problem(path, f"{path} must contain at least one use case"))
        return problems
    for index, use_case in enumerate(use_cases):
        item = f"{path}[{index}]"
        if not isinstance(use_case, Mapping):
            problems.append(Problem(item, f"{item} must be an object"))
            continue
        use = use_case.get("messagingUseCaseUs")
        if _blank(use):
            problems.append(
                Problem(f"{item}.messagingUseCaseUs", f"{item}.messagingUseCaseUs is required")
            )
        else:
            problems += _one_of(use, MESSAGING_USE_CASES, f"{item}.messagingUseCaseUs")
        samples = use_case.get("sampleMessages")
        samples_path = f"{item}.sampleMessages"
        if not isinstance(samples, list) or not 1 <= len(samples) <= MAX_SAMPLE_MESSAGES:
            problems.append(Problem(samples_path, f"{samples_path} must hold 1–5 sample messages"))
            continue
        for number, sample in enumerate(samples):
            if not isinstance(sample, str) or not sample.strip():
                problems.append(
                    Problem(f"{samples_path}[{number}]", "sample message must be non-empty text")
                )
            elif len(sample) > MAX_SAMPLE_MESSAGE_CHARS:
                problems.append(
                    Problem(
                        f"{samples_path}[{number}]",
                        f"sample message must be at most {MAX_SAMPLE_MESSAGE_CHARS} characters",
                    )
                )
    return problems
