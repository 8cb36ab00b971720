"""The onboarding spec's shape: the models :func:`workflow.core.spec.parse_spec` builds.

Strict pydantic models in the API's own field names (no coercion, unknown fields refused).
Payment details and the WhatsApp access token are ``SecretStr``: they never show in ``repr``,
logs or exceptions, and :meth:`OnboardingSpec.storable` leaves them out. Import them from
:mod:`workflow.core.spec`, which re-exports them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = [
    "BillingContact",
    "ChannelsSpec",
    "OnboardingSpec",
    "OrganizationFacts",
    "PaymentDetails",
    "ProfileSpec",
    "WhatsAppBusinessAccount",
]


class _Strict(BaseModel):
    # strict: no coercion ("true" is not a boolean, 1 is not a boolean), as the API types it.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


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
