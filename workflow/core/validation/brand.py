"""The rules of a request ``brand`` (``BrandData``, camelCase: contact, business, compliance)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from workflow.core.errors import Problem
from workflow.core.validation.fields import (
    Choice,
    Custom,
    Flag,
    Rule,
    Text,
    as_list,
    as_object,
    check_fields,
    join,
)
from workflow.core.validation.limits import MAX_NAME_CHARS, MAX_TEXT_CHARS, MAX_URL_CHARS

__all__ = ["BRAND_RELATIONSHIPS", "ENTITY_TYPES", "VERTICALS", "validate_brand"]

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

_NAME = Text(MAX_NAME_CHARS)
_BRAND: Final[Mapping[str, Rule]] = {
    "contact": Custom(),
    "business": Custom(),
    "compliance": Custom(),
}
_CONTACT: Final[Mapping[str, Rule]] = {
    "name": Text(MAX_NAME_CHARS, required=True), "businessName": _NAME, "role": _NAME,
    "phone": _NAME, "email": _NAME, "phoneCountryCode": _NAME,
}  # fmt: skip
_BUSINESS: Final[Mapping[str, Rule]] = {
    "legalName": _NAME, "taxId": _NAME, "taxIdType": _NAME, "entityType": Choice(ENTITY_TYPES),
    "street": _NAME, "city": _NAME, "state": _NAME, "postalCode": _NAME, "country": _NAME,
    "url": Text(MAX_URL_CHARS), "countryOfRegistration": _NAME,
}  # fmt: skip
_COMPLIANCE: Final[Mapping[str, Rule]] = {
    "vertical": Choice(VERTICALS, required=True),
    "brandRelationship": Choice(BRAND_RELATIONSHIPS, required=True),
    "isTcrApplication": Flag(), "destinationCountries": Custom(),
    "primaryUseCase": Text(MAX_TEXT_CHARS), "expectedMessagingVolume": _NAME,
    "phoneNumberPrefix": _NAME, "notes": Text(MAX_TEXT_CHARS),
}  # fmt: skip
#: ``DestinationCountry``: ``isMain`` is a plain boolean (not nullable) in the API's types.
_COUNTRY: Final[Mapping[str, Rule]] = {
    "id": Text(MAX_NAME_CHARS, required=True),
    "isMain": Flag(nullable=False),
}


def _required_object(
    brand: Mapping[str, Any], name: str, prefix: str, problems: list[Problem]
) -> Mapping[str, Any] | None:
    path = join(prefix, name)
    value = brand.get(name)
    if value is None:
        problems.append(Problem(path, f"{path} is required"))
        return None
    return as_object(value, path, problems)


def validate_brand(brand: Mapping[str, Any], prefix: str = "brand") -> list[Problem]:
    """Every problem in a request ``brand`` object: each field typed and sized, none unknown.

    ``contact.name``, ``compliance.vertical`` and ``compliance.brandRelationship`` are
    required; every other field is optional and may be ``null`` except
    ``destinationCountries[].isMain``, a plain boolean.
    """
    problems: list[Problem] = []
    check_fields(brand, prefix, _BRAND, problems)
    contact = _required_object(brand, "contact", prefix, problems)
    if contact is not None:
        check_fields(contact, join(prefix, "contact"), _CONTACT, problems)
    business = as_object(brand.get("business"), join(prefix, "business"), problems)
    if business is not None:
        check_fields(business, join(prefix, "business"), _BUSINESS, problems)
    compliance = _required_object(brand, "compliance", prefix, problems)
    if compliance is None:
        return problems
    check_fields(compliance, join(prefix, "compliance"), _COMPLIANCE, problems)
    path = join(prefix, "compliance.destinationCountries")
    countries = as_list(compliance.get("destinationCountries"), path, problems)
    for index, country in enumerate(countries or ()):
        item = f"{path}[{index}]"
        if not isinstance(country, Mapping):
            problems.append(Problem(item, f"{item} must be an object"))
        else:
            check_fields(country, item, _COUNTRY, problems)
    return problems
