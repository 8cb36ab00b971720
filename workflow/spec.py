"""What a caller submits to onboard one sender profile, in the API's own field names.

An :class:`OnboardingSpec` holds the ``POST /v3/profiles`` body (snake_case, without ``brand``),
the ``brand`` object and the campaign bodies exactly as the API takes them (camelCase), the
update-only channel fields, and optional facts about the parent organization. Copy from Sent's
docs and it fits.

:func:`parse_spec` checks a raw document against every API rule at once (:mod:`workflow.validation`)
and against the spec's own shape, and raises one :class:`~workflow.errors.SpecError` listing every
problem by field path. Payment details and the WhatsApp access token are ``SecretStr``: they never
show in ``repr``, logs or exceptions, and :meth:`OnboardingSpec.storable` leaves them out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from workflow.errors import Problem, SpecError
from workflow.validation import (
    validate_campaign,
    validate_idempotency_key,
    validate_profile_body,
)

__all__ = [
    "BillingContact",
    "ChannelsSpec",
    "OnboardingSpec",
    "OrganizationFacts",
    "PaymentDetails",
    "ProfileSpec",
    "WhatsAppBusinessAccount",
    "load_documents",
    "parse_spec",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BillingContact(_Strict):
    """Who receives the invoices when the profile pays for itself."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None


class PaymentDetails(_Strict):
    """Card data: sent once to Sent (which forwards it to the payment processor), never stored."""

    card_number: SecretStr
    expiry: SecretStr
    cvc: SecretStr
    zip_code: str | None = None

    @property
    def last4(self) -> str:
        """The last four digits, the most of the card any record may keep."""
        return self.card_number.get_secret_value()[-4:]


class WhatsAppBusinessAccount(_Strict):
    """Direct WhatsApp credentials; the access token is a secret."""

    waba_id: str | None = None
    phone_number_id: str | None = None
    access_token: SecretStr | None = None


class ProfileSpec(_Strict):
    """The ``POST /v3/profiles`` body without ``brand`` (the brand travels on its own)."""

    name: str | None = None
    short_name: str | None = None
    description: str | None = None
    icon: str | None = None
    allow_contact_sharing: bool | None = None
    allow_template_sharing: bool | None = None
    inherit_contacts: bool | None = None
    inherit_templates: bool | None = None
    inherit_tcr_brand: bool | None = None
    inherit_tcr_campaign: bool | None = None
    billing_model: str | None = None
    billing_contact: BillingContact | None = None
    payment_details: PaymentDetails | None = None
    whatsapp_business_account: WhatsAppBusinessAccount | None = None
    sandbox: bool | None = None

    @property
    def inherits_brand(self) -> bool:
        """``inherit_tcr_brand`` as the API reads it: omitted means true."""
        return self.inherit_tcr_brand is not False

    @property
    def inherits_campaigns(self) -> bool:
        """``inherit_tcr_campaign`` as the API reads it: omitted means true."""
        return self.inherit_tcr_campaign is not False


class ChannelsSpec(_Strict):
    """The update-only channel fields, PATCHed just before completion."""

    sending_phone_number: str | None = None
    whatsapp_phone_number: str | None = None
    sending_phone_number_profile_id: str | None = None
    sending_whatsapp_number_profile_id: str | None = None
    allow_number_change_during_onboarding: bool | None = None


class OrganizationFacts(_Strict):
    """What the rules need to know of the parent organization; confirmed from Sent when possible."""

    has_brand: bool | None = None
    brand_is_tcr_application: bool | None = None
    has_campaigns: bool | None = None
    has_whatsapp_account: bool | None = None
    whatsapp_has_phone_number: bool | None = None


class OnboardingSpec(_Strict):
    """One onboarding, as submitted. Build it with :func:`parse_spec`, which checks every rule."""

    key: str
    profile: ProfileSpec
    brand: dict[str, Any] | None = None
    campaigns: list[dict[str, Any]] = Field(default_factory=list)
    channels: ChannelsSpec | None = None
    organization: OrganizationFacts | None = None

    def storable(self) -> dict[str, Any]:
        """A JSON-ready copy for the database: payment details and access token removed."""
        data = self.model_dump(mode="json", exclude_none=True)
        profile = data["profile"]
        profile.pop("payment_details", None)
        waba = profile.get("whatsapp_business_account")
        if waba is not None:
            waba.pop("access_token", None)
        return data

    def fingerprint(self) -> str:
        """A digest of :meth:`storable`, to tell a resubmission from a different spec."""
        canonical = json.dumps(self.storable(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def has_secrets(self) -> bool:
        """Whether the create step must send card data or a WhatsApp token."""
        waba = self.profile.whatsapp_business_account
        return self.profile.payment_details is not None or (
            waba is not None and waba.access_token is not None
        )

    def create_body(self, secrets: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The ``POST /v3/profiles`` body; secrets are filled from ``secrets`` when given."""
        body = self.profile.model_dump(mode="json", exclude_none=True, exclude={"payment_details"})
        waba = body.get("whatsapp_business_account")
        if waba is not None:
            waba.pop("access_token", None)
        if secrets:
            if "payment_details" in secrets:
                body["payment_details"] = json.loads(secrets["payment_details"])
            if waba is not None and "whatsapp_access_token" in secrets:
                waba["access_token"] = secrets["whatsapp_access_token"]
        return body

    def secret_values(self) -> dict[str, str]:
        """The secrets the create step sends, as plain strings (for the encrypted vault only)."""
        values: dict[str, str] = {}
        payment = self.profile.payment_details
        if payment is not None:
            values["payment_details"] = json.dumps(
                {
                    "card_number": payment.card_number.get_secret_value(),
                    "expiry": payment.expiry.get_secret_value(),
                    "cvc": payment.cvc.get_secret_value(),
                    "zip_code": payment.zip_code,
                }
            )
        waba = self.profile.whatsapp_business_account
        if waba is not None and waba.access_token is not None:
            values["whatsapp_access_token"] = waba.access_token.get_secret_value()
        return values

    def channels_body(self) -> dict[str, Any]:
        """The ``PATCH`` body for the channel fields; empty when no channel is configured."""
        if self.channels is None:
            return {}
        return self.channels.model_dump(mode="json", exclude_none=True)


def _reveal(value: Any) -> Any:
    """A copy of raw input with SecretStr-like values made plain, so the rules can read them."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Mapping):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


def _pydantic_problems(exc: ValidationError, known: set[str]) -> list[Problem]:
    problems = []
    for error in exc.errors():
        path = ""
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        if path in known or any(path.startswith(k + ".") for k in known):
            continue  # already reported by an API rule, in the API's words
        message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append(Problem(path or "spec", message))
    return problems


def parse_spec(raw: object, *, today: date, source: str | None = None) -> OnboardingSpec:
    """Check a raw spec document against every rule and build the :class:`OnboardingSpec`.

    Args:
        raw: the decoded JSON/YAML object.
        today: the date card expiry is judged against.
        source: where the document came from, named in the error.

    Raises:
        SpecError: listing every problem at once, each with its field path.
    """
    if not isinstance(raw, Mapping):
        raise SpecError([Problem("spec", "an onboarding spec must be an object")], source=source)
    data = _reveal(raw)
    problems: list[Problem] = []
    key = data.get("key")
    if key is None:
        problems.append(Problem("key", "key is required"))
    else:
        problems += validate_idempotency_key(key, "key")
    profile = data.get("profile")
    if not isinstance(profile, Mapping):
        problems.append(Problem("profile", "profile is required and must be an object"))
        profile = {}
    if "brand" in profile:
        problems.append(Problem("profile.brand", "give the brand at the top level, as 'brand'"))
    brand = data.get("brand")
    body = {k: v for k, v in profile.items() if k != "brand"}
    if brand is not None:
        body["brand"] = brand
    for problem in validate_profile_body(body, today=today):
        problems.append(
            problem
            if problem.path.startswith("brand")
            else Problem(f"profile.{problem.path}", problem.message)
        )
    campaigns = data.get("campaigns") or []
    if isinstance(campaigns, list):
        for index, campaign in enumerate(campaigns):
            if isinstance(campaign, Mapping):
                problems += validate_campaign(campaign, f"campaigns[{index}]")
    known = {p.path for p in problems}
    try:
        spec = OnboardingSpec.model_validate(raw)
    except ValidationError as exc:
        problems += _pydantic_problems(exc, known)
        spec = None
    if problems or spec is None:
        raise SpecError(problems, source=source)
    return spec


def load_documents(path: str | Path) -> list[object]:
    """Read one spec or a list of specs from a ``.json``, ``.yaml`` or ``.yml`` file.

    Raises:
        SpecError: when the file cannot be read or decoded (named with its path).
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
        loaded: object = (
            json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
        )
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise SpecError([Problem("file", f"cannot read {file}: {exc}")], source=str(file)) from exc
    return list(loaded) if isinstance(loaded, list) else [loaded]


def parse_documents(
    paths: Iterable[str | Path], *, today: date
) -> tuple[list[OnboardingSpec], list[SpecError]]:
    """Parse every spec in every file; returns the valid specs and one error per invalid spec."""
    specs: list[OnboardingSpec] = []
    errors: list[SpecError] = []
    for path in paths:
        try:
            documents = load_documents(path)
        except SpecError as exc:
            errors.append(exc)
            continue
        for index, document in enumerate(documents):
            source = f"{path}" if len(documents) == 1 else f"{path}[{index}]"
            try:
                specs.append(parse_spec(document, today=today, source=source))
            except SpecError as exc:
                errors.append(exc)
    return specs, errors


def changed_paths(before: Any, after: Any, prefix: str = "") -> list[str]:
    """The field paths (``profile.description``, ``campaigns[0].name``) that differ."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        paths: list[str] = []
        for name in sorted(set(before) | set(after), key=str):
            path = f"{prefix}.{name}" if prefix else str(name)
            paths += changed_paths(before.get(name), after.get(name), path)
        return paths
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        paths = []
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            paths += changed_paths(old, new, f"{prefix}[{index}]")
        return paths
    return [] if before == after else [prefix or "spec"]


def find_key_conflicts(specs: Iterable[OnboardingSpec]) -> list[Problem]:
    """Specs that share a key with different content (identical repeats are fine)."""
    seen: dict[str, OnboardingSpec] = {}
    problems: list[Problem] = []
    for spec in specs:
        first = seen.setdefault(spec.key, spec)
        if first is not spec and (
            first.fingerprint() != spec.fingerprint()
            or first.secret_values() != spec.secret_values()
        ):
            paths = changed_paths(first.storable(), spec.storable()) or ["secrets"]
            problems.append(
                Problem(
                    "key",
                    f"key {spec.key!r} is given twice with different content "
                    f"({', '.join(paths)}); each onboarding needs its own key",
                )
            )
    return problems
