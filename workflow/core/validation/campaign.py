"""The rules of a request campaign (``CampaignData``, camelCase) and of its request wrapper."""

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
    as_object,
    check_fields,
    join,
)
from workflow.core.validation.limits import (
    MAX_LIST_ITEMS,
    MAX_NAME_CHARS,
    MAX_SAMPLE_MESSAGE_CHARS,
    MAX_SAMPLE_MESSAGES,
    MAX_TEXT_CHARS,
    MAX_URL_CHARS,
)

__all__ = ["MESSAGING_USE_CASES", "validate_campaign", "validate_campaign_request"]

MESSAGING_USE_CASES: Final = (
    "MARKETING", "ACCOUNT_NOTIFICATION", "CUSTOMER_CARE", "FRAUD_ALERT", "TWO_FA",
    "DELIVERY_NOTIFICATION", "SECURITY_ALERT", "M2M", "MIXED", "HIGHER_EDUCATION",
    "POLLING_VOTING", "PUBLIC_SERVICE_ANNOUNCEMENT", "LOW_VOLUME",
)  # fmt: skip

_KEYWORDS = Text(MAX_NAME_CHARS)
_MESSAGE = Text(MAX_TEXT_CHARS)
_LINK = Text(MAX_URL_CHARS)
_CAMPAIGN: Final[Mapping[str, Rule]] = {
    "name": Text(MAX_NAME_CHARS, required=True), "description": Text(MAX_TEXT_CHARS, required=True),
    "type": Text(MAX_NAME_CHARS, required=True), "useCases": Custom(),
    "helpKeywords": _KEYWORDS, "helpMessage": _MESSAGE, "messageFlow": _MESSAGE,
    "optinKeywords": _KEYWORDS, "optinMessage": _MESSAGE, "optoutKeywords": _KEYWORDS,
    "optoutMessage": _MESSAGE, "privacyPolicyLink": _LINK, "termsAndConditionsLink": _LINK,
}  # fmt: skip
_USE_CASE: Final[Mapping[str, Rule]] = {
    "messagingUseCaseUs": Choice(MESSAGING_USE_CASES, required=True),
    "sampleMessages": Custom(),
}
_REQUEST: Final[Mapping[str, Rule]] = {"campaign": Custom(), "sandbox": Flag(nullable=False)}


def _validate_samples(samples: object, path: str) -> list[Problem]:
    if not isinstance(samples, list) or not 1 <= len(samples) <= MAX_SAMPLE_MESSAGES:
        return [Problem(path, f"{path} must hold 1–5 sample messages")]
    problems: list[Problem] = []
    for number, sample in enumerate(samples):
        if not isinstance(sample, str) or not sample.strip():
            problems.append(Problem(f"{path}[{number}]", "sample message must be non-empty text"))
        elif len(sample) > MAX_SAMPLE_MESSAGE_CHARS:
            problems.append(
                Problem(
                    f"{path}[{number}]",
                    f"sample message must be at most {MAX_SAMPLE_MESSAGE_CHARS} characters",
                )
            )
    return problems


def validate_campaign(campaign: Mapping[str, Any], prefix: str = "campaign") -> list[Problem]:
    """Every problem in a request campaign: each field typed and sized, none unknown.

    ``name``, ``description``, ``type`` and ``useCases`` are required; each use case needs
    ``messagingUseCaseUs`` and 1–5 sample messages of at most 1024 characters.
    """
    problems: list[Problem] = []
    check_fields(campaign, prefix, _CAMPAIGN, problems)
    use_cases = campaign.get("useCases")
    path = join(prefix, "useCases")
    if not isinstance(use_cases, list) or not use_cases:
        problems.append(Problem(path, f"{path} must contain at least one use case"))
        return problems
    if len(use_cases) > MAX_LIST_ITEMS:
        problems.append(Problem(path, f"{path} must hold at most {MAX_LIST_ITEMS} items"))
        return problems
    for index, use_case in enumerate(use_cases):
        item = f"{path}[{index}]"
        if not isinstance(use_case, Mapping):
            problems.append(Problem(item, f"{item} must be an object"))
            continue
        check_fields(use_case, item, _USE_CASE, problems)
        problems += _validate_samples(use_case.get("sampleMessages"), f"{item}.sampleMessages")
    return problems


def validate_campaign_request(body: Mapping[str, Any]) -> list[Problem]:
    """Every problem in a create/update campaign request: ``{"campaign": ..., "sandbox": ...}``."""
    problems: list[Problem] = []
    check_fields(body, "", _REQUEST, problems)
    campaign = body.get("campaign")
    if campaign is None:
        problems.append(Problem("campaign", "campaign is required"))
    else:
        found = as_object(campaign, "campaign", problems)
        if found is not None:
            problems += validate_campaign(found)
    return problems
