"""The rules of a ``POST /v3/profiles`` or ``PATCH /v3/profiles/{id}`` body.

Top-level keys are snake_case; ``brand`` (camelCase inside) is checked by
:mod:`workflow.core.validation.brand`. Create and update know different fields: the channel fields
exist only on update, ``whatsapp_business_account`` only on create.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any, Final

from workflow.core.errors import Problem
from workflow.core.validation.brand import validate_brand
from workflow.core.validation.fields import (
    Custom,
    Flag,
    Rule,
    Text,
    as_object,
    blank,
    check_fields,
)
from workflow.core.validation.limits import MAX_NAME_CHARS, MAX_TEXT_CHARS, MAX_URL_CHARS

__all__ = [
    "BILLING_MODELS",
    "BRAND_WITH_INHERIT",
    "CHANNEL_FIELDS",
    "EXPIRY_FORMAT",
    "NAME_REQUIRED",
    "SHORT_NAME_RULE",
    "validate_channels",
    "validate_profile_body",
]

BILLING_MODELS: Final = ("organization", "profile", "profile_and_organization")
PROFILE_BILLING_MODELS: Final = ("profile", "profile_and_organization")

NAME_REQUIRED: Final = "Profile name is required"
SHORT_NAME_RULE: Final = (
    "short_name must be 3–11 characters, contain only letters, numbers, and spaces, "
    "and include at least one letter"
)
EXPIRY_FORMAT: Final = "payment_details.expiry must be in MM/YY format (e.g. '09/27')"
BRAND_WITH_INHERIT: Final = "Cannot provide brand data when inherit_tcr_brand is true."

# fullmatch everywhere: with re.match, "$" also matches before a trailing newline.
_SHORT_NAME = re.compile(r"(?=[^\n]*[A-Za-z])[A-Za-z0-9 ]{3,11}")
_EXPIRY = re.compile(r"(0[1-9]|1[0-2])/([0-9]{2})")
_CARD_NUMBER = re.compile(r"[0-9]{13,19}")
_CVC = re.compile(r"[0-9]{3,4}")

#: The update-only channel fields (``PATCH``), also a spec's ``channels``.
CHANNEL_FIELDS: Final[Mapping[str, Rule]] = {
    "sending_phone_number": Text(MAX_NAME_CHARS),
    "whatsapp_phone_number": Text(MAX_NAME_CHARS),
    "sending_phone_number_profile_id": Text(MAX_NAME_CHARS),
    "sending_whatsapp_number_profile_id": Text(MAX_NAME_CHARS),
    "allow_number_change_during_onboarding": Flag(),
}
_COMMON: Final[Mapping[str, Rule]] = {
    "name": Custom(), "short_name": Custom(), "description": Text(MAX_TEXT_CHARS),
    "icon": Text(MAX_URL_CHARS), "inherit_contacts": Flag(), "inherit_templates": Flag(),
    "inherit_tcr_brand": Flag(), "inherit_tcr_campaign": Flag(), "billing_model": Custom(),
    "billing_contact": Custom(), "payment_details": Custom(), "brand": Custom(),
    "sandbox": Flag(nullable=False),
}  # fmt: skip
#: ``allow_*_sharing`` are plain booleans on create and nullable on update.
_CREATE: Final[Mapping[str, Rule]] = {
    **_COMMON,
    "allow_contact_sharing": Flag(nullable=False),
    "allow_template_sharing": Flag(nullable=False),
    "whatsapp_business_account": Custom(),
}
_UPDATE: Final[Mapping[str, Rule]] = {
    **_COMMON,
    "allow_contact_sharing": Flag(),
    "allow_template_sharing": Flag(),
    "whatsapp_business_account": Custom(),  # refused with its own message
    **CHANNEL_FIELDS,
}
_BILLING_CONTACT: Final[Mapping[str, Rule]] = {
    "name": Text(MAX_NAME_CHARS, required=True),
    "email": Text(MAX_NAME_CHARS, required=True),
    "phone": Text(MAX_NAME_CHARS),
    "address": Text(MAX_TEXT_CHARS),
}
_PAYMENT: Final[Mapping[str, Rule]] = {
    "card_number": Custom(), "expiry": Custom(), "cvc": Custom(),
    "zip_code": Text(MAX_NAME_CHARS, required=True),
}  # fmt: skip
_WABA: Final[Mapping[str, Rule]] = {
    "waba_id": Text(MAX_NAME_CHARS, required=True),
    "access_token": Text(MAX_TEXT_CHARS, required=True),
    "phone_number_id": Text(MAX_NAME_CHARS),
}


def _matches(pattern: re.Pattern[str], value: object, max_chars: int) -> re.Match[str] | None:
    """The whole string against ``pattern``; a non-string or an overlong one never matches."""
    if not isinstance(value, str) or len(value) > max_chars:
        return None
    return pattern.fullmatch(value)


def _validate_payment_details(details: Mapping[str, Any], today: date) -> list[Problem]:
    problems: list[Problem] = []
    check_fields(details, "payment_details", _PAYMENT, problems)
    if _matches(_CARD_NUMBER, details.get("card_number"), 19) is None:
        problems.append(
            Problem(
                "payment_details.card_number", "payment_details.card_number must be 13–19 digits"
            )
        )
    match = _matches(_EXPIRY, details.get("expiry"), 5)
    if match is None:
        problems.append(Problem("payment_details.expiry", EXPIRY_FORMAT))
    else:
        month, year = int(match.group(1)), 2000 + int(match.group(2))
        if (year, month) < (today.year, today.month):
            problems.append(
                Problem("payment_details.expiry", "payment_details.expiry must not be in the past")
            )
    if _matches(_CVC, details.get("cvc"), 4) is None:
        problems.append(Problem("payment_details.cvc", "payment_details.cvc must be 3–4 digits"))
    return problems


def _validate_billing(
    body: Mapping[str, Any], today: date, current: Mapping[str, Any] | None
) -> list[Problem]:
    problems: list[Problem] = []
    billing_model = body.get("billing_model")
    if billing_model is None:
        billing_model = current.get("billing_model", "profile") if current else "profile"
    if billing_model not in BILLING_MODELS:
        problems.append(
            Problem("billing_model", f"billing_model must be one of: {', '.join(BILLING_MODELS)}")
        )
    contact = as_object(body.get("billing_contact"), "billing_contact", problems)
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
        check_fields(contact, "billing_contact", _BILLING_CONTACT, problems)
    payment = as_object(body.get("payment_details"), "payment_details", problems)
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


def _validate_names(body: Mapping[str, Any], updating: bool) -> list[Problem]:
    problems: list[Problem] = []
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        problems.append(Problem("name", "name must be a string"))
    elif isinstance(name, str) and len(name) > MAX_NAME_CHARS:
        problems.append(Problem("name", f"name must be at most {MAX_NAME_CHARS} characters"))
    elif (not updating and blank(name)) or (updating and "name" in body and name == ""):
        problems.append(Problem("name", NAME_REQUIRED))
    short_name = body.get("short_name")
    if short_name is not None and not isinstance(short_name, str):
        problems.append(Problem("short_name", "short_name must be a string"))
    elif short_name is not None and _matches(_SHORT_NAME, short_name, 11) is None:
        problems.append(Problem("short_name", SHORT_NAME_RULE))
    return problems


def validate_channels(channels: Mapping[str, Any]) -> list[Problem]:
    """Every problem in the update-only channel fields (types, sizes, unknown fields)."""
    problems: list[Problem] = []
    check_fields(channels, "", CHANNEL_FIELDS, problems)
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
        Problems keyed by the API's field paths (``short_name``, ``payment_details.expiry``):
        unknown fields, wrong types, sizes past :mod:`~workflow.core.validation.limits`, and the
        API's own rules.
    """
    problems: list[Problem] = []
    updating = current is not None
    check_fields(body, "", _UPDATE if updating else _CREATE, problems)
    problems += _validate_names(body, updating)
    problems += _validate_billing(body, today, current)

    inherit_brand = body.get("inherit_tcr_brand")
    if inherit_brand is None:
        inherit_brand = current.get("inherit_tcr_brand", True) if current else True
    brand = as_object(body.get("brand"), "brand", problems)
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
    waba_object = as_object(waba, "whatsapp_business_account", problems)
    if waba_object is not None and not updating:
        check_fields(waba_object, "whatsapp_business_account", _WABA, problems)
    return problems
