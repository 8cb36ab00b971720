"""The sandbox's organization, profiles and campaigns, and the operations the API performs on them.

All of it lives in memory behind one lock. Operations take the already-parsed request body and
return a :class:`~workflow.sandbox.envelope.Reply`; the HTTP layer (:mod:`workflow.sandbox.app`)
adds authentication, idempotency and faults around them.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflow.core.clock import Clock
from workflow.core.errors import Problem
from workflow.core.rules import CompletionFacts, channel_presence, has_main_destination_country
from workflow.core.validation import validate_campaign_request, validate_profile_body
from workflow.sandbox.envelope import Reply, error_reply, ok_reply, timestamp
from workflow.sandbox.organization import OrganizationConfig
from workflow.sandbox.resources import billing_contact, brand_response, campaign_response

__all__ = ["OrganizationConfig", "ProfileRecord", "SandboxState"]

NO_WABA = (
    "Organization does not have a WhatsApp Business Account configured. Complete WhatsApp "
    "Embedded Signup for your organization first, or provide direct credentials in the "
    "'whatsapp_business_account' field."
)
PROFILE_DEFAULTS: dict[str, Any] = {
    "allow_contact_sharing": False,
    "allow_template_sharing": False,
    "inherit_contacts": True,
    "inherit_templates": True,
    "inherit_tcr_brand": True,
    "inherit_tcr_campaign": True,
    "billing_model": "profile",
}
UPDATABLE = (
    "name", "icon", "description", "short_name", "allow_contact_sharing", "allow_template_sharing",
    "inherit_contacts", "inherit_templates", "inherit_tcr_brand", "inherit_tcr_campaign",
    "billing_model", "billing_contact", "sending_phone_number_profile_id",
    "sending_whatsapp_number_profile_id", "sending_phone_number", "whatsapp_phone_number",
    "allow_number_change_during_onboarding",
)  # fmt: skip


@dataclass
class ProfileRecord:
    """One profile as the sandbox holds it (the secrets it was sent are never kept)."""

    data: dict[str, Any]
    brand: dict[str, Any] | None = None
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    waba_phone_number_id: str | None = None
    has_own_waba: bool = False
    deleted: bool = False
    completion: str | None = None  # None, "in_progress", "done"
    #: 2026-10: this profile's KYC form; ``None``: the organization's flag.
    kyc_submitted: bool | None = None
    #: Whether both inherit_tcr_brand and inherit_tcr_campaign were given explicitly.
    tcr_choice_stated: bool = False
    payments_forwarded: int = 0


class SandboxState:
    """Everything the fake Sent knows. Thread-safe: every operation holds ``lock``."""

    def __init__(self, organization: OrganizationConfig, clock: Clock) -> None:
        self.organization = organization
        self.clock = clock
        self.lock = threading.RLock()
        self.profiles: dict[str, ProfileRecord] = {}
        created = clock.now()
        self.org_brand = brand_response(
            {
                "contact": {"name": "Organization Admin", "email": organization.email},
                "business": {"legalName": "Acme Corporation LLC", "country": "US"},
                "compliance": {
                    "vertical": "PROFESSIONAL",
                    "brandRelationship": "SMALL_ACCOUNT",
                    "isTcrApplication": organization.brand_is_tcr_application,
                    "destinationCountries": [{"id": "US", "isMain": False}],
                },
            },
            "b0000000-0000-4000-8000-000000000001",
            created,
        )
        self.org_brand["is_inherited"] = True
        self.org_campaigns = [
            campaign_response(
                {
                    "name": "Organization notifications",
                    "description": "Account notifications shared by every profile",
                    "type": "App",
                    "useCases": [
                        {
                            "messagingUseCaseUs": "ACCOUNT_NOTIFICATION",
                            "sampleMessages": ["Your order {id} has shipped."],
                        }
                    ],
                },
                "c0000000-0000-4000-8000-000000000001",
                self.org_brand["id"],
                organization.id,
                created,
            )
        ]

    # ----------------------------------------------------------------- views
    def live(self, profile_id: str) -> ProfileRecord | None:
        """The profile unless it does not exist or was deleted."""
        record = self.profiles.get(profile_id)
        return record if record is not None and not record.deleted else None

    def effective_brand(self, record: ProfileRecord) -> dict[str, Any] | None:
        """The profile's own brand, or the organization's when it inherits one."""
        if record.brand is not None:
            return record.brand
        if record.data["inherit_tcr_brand"] and self.organization.has_brand:
            return self.org_brand
        return None

    def visible_campaigns(self, record: ProfileRecord) -> list[dict[str, Any]]:
        """Own campaigns, plus the organization's when the profile inherits them."""
        inherited = (
            self.org_campaigns
            if record.data["inherit_tcr_campaign"] and self.organization.has_campaigns
            else []
        )
        return [*record.campaigns, *inherited]

    def detail(self, record: ProfileRecord) -> dict[str, Any]:
        """The ``ProfileDetail`` the API returns for a profile."""
        return {**record.data, "brand": self.effective_brand(record)}

    def facts(self, record: ProfileRecord) -> CompletionFacts:
        """What ``/complete`` checks, read off the stored profile."""
        data = record.data
        org = self.organization
        brand = self.effective_brand(record)
        compliance = (brand or {}).get("compliance") or {}
        inherited_number = (
            not record.has_own_waba
            and org.has_whatsapp_account
            and bool(org.whatsapp_phone_number_id)
        )
        channels_view = dict(data)
        if record.has_own_waba:
            channels_view["whatsapp_business_account"] = {
                "phone_number_id": record.waba_phone_number_id
            }
        has_sms, has_whatsapp = channel_presence(
            channels_view, inherited_waba_has_phone_number=inherited_number
        )
        return CompletionFacts(
            profile_complete=all(
                isinstance(data.get(k), str) and data[k].strip()
                for k in ("name", "short_name", "description")
            ),
            inherit_tcr_brand=bool(data["inherit_tcr_brand"]),
            inherit_tcr_campaign=bool(data["inherit_tcr_campaign"]),
            has_own_brand=record.brand is not None,
            parent_has_brand=org.has_brand,
            is_tcr_application=bool(compliance.get("is_tcr_application")),
            has_own_campaigns=bool(record.campaigns),
            parent_has_campaigns=org.has_campaigns,
            has_sms=has_sms,
            has_whatsapp=has_whatsapp,
            has_main_destination_country=has_main_destination_country(compliance),
            revision=org.api_revision,
            kyc_submitted=org.kyc_submitted
            if record.kyc_submitted is None
            else record.kyc_submitted,
            documents_uploaded=org.documents_uploaded,
            tcr_choice_stated=record.tcr_choice_stated,
        )

    # ------------------------------------------------------------ operations
    def create_profile(self, body: Mapping[str, Any], rid: str) -> Reply:
        """``POST /v3/profiles``."""
        now = self.clock.now()
        problems = validate_profile_body(body, today=now.date())
        if problems:
            return _validation(problems, rid, now)
        waba = body.get("whatsapp_business_account")
        later = self.organization.api_revision == "2026-10"  # a WABA is never inherited
        if waba is None and not self.organization.has_whatsapp_account and not later:
            return error_reply(422, "VALIDATION_001", NO_WABA, rid, now)
        profile_id = str(uuid.uuid4())
        data: dict[str, Any] = {
            "id": profile_id, "organization_id": self.organization.id,
            "name": body.get("name"), "email": self.organization.email,
            "icon": body.get("icon"), "description": body.get("description"),
            "short_name": body.get("short_name"), "status": "incomplete",
            "created_at": timestamp(now), "updated_at": timestamp(now),
        }  # fmt: skip
        defaults = dict(PROFILE_DEFAULTS)
        if self.organization.api_revision == "2026-10":  # 0.35+: inheriting is opted into
            defaults.update(inherit_tcr_brand=False, inherit_tcr_campaign=False)
        for key, default in defaults.items():
            data[key] = body.get(key, default) if body.get(key) is not None else default
        data.update(
            sending_phone_number_profile_id=None, sending_whatsapp_number_profile_id=None,
            sending_phone_number=None, whatsapp_phone_number=None,
            allow_number_change_during_onboarding=None,
            waba_id=waba["waba_id"] if waba else (None if later else self.organization.waba_id),
            billing_contact=billing_contact(body.get("billing_contact")),
        )  # fmt: skip
        record = ProfileRecord(
            data=data,
            has_own_waba=waba is not None,
            waba_phone_number_id=(waba or {}).get("phone_number_id"),
            payments_forwarded=1 if body.get("payment_details") else 0,
            tcr_choice_stated=body.get("inherit_tcr_brand") is not None
            and body.get("inherit_tcr_campaign") is not None,
        )
        if body.get("brand") is not None:
            record.brand = brand_response(body["brand"], str(uuid.uuid4()), now)
        self.profiles[profile_id] = record
        return ok_reply(201, self.detail(record), rid, now)

    def update_profile(self, record: ProfileRecord, body: Mapping[str, Any], rid: str) -> Reply:
        """``PATCH /v3/profiles/{id}``: only non-null fields change."""
        now = self.clock.now()
        problems = validate_profile_body(body, today=now.date(), current=record.data)
        if body.get("brand") is not None and record.brand and record.brand["submitted_to_tcr"]:
            problems.append(
                Problem("brand", "Brand has been submitted to TCR and cannot be modified.")
            )
        if problems:
            return _validation(problems, rid, now, catalog_doc=True)
        for key in UPDATABLE:
            if body.get(key) is not None:
                record.data[key] = body[key]
        if (
            body.get("inherit_tcr_brand") is not None
            and body.get("inherit_tcr_campaign") is not None
        ):
            record.tcr_choice_stated = True
        record.data["billing_contact"] = billing_contact(record.data["billing_contact"])
        if body.get("brand") is not None:
            previous = record.brand
            record.brand = brand_response(
                body["brand"], previous["id"] if previous else str(uuid.uuid4()), now
            )
            if previous is not None:
                record.brand["created_at"] = previous["created_at"]
                record.brand["updated_at"] = timestamp(now)
        if body.get("payment_details") is not None:
            record.payments_forwarded += 1
        record.data["updated_at"] = timestamp(now)
        return ok_reply(200, self.detail(record), rid, now)

    def create_campaign(self, record: ProfileRecord, body: Mapping[str, Any], rid: str) -> Reply:
        """``POST /v3/profiles/{id}/campaigns``."""
        now = self.clock.now()
        problems = validate_campaign_request(body)
        campaign = body.get("campaign")
        brand = self.effective_brand(record)
        if brand is None:
            problems.append(
                Problem("brand", "The profile has no brand; attach a brand before campaigns.")
            )
        if problems or not isinstance(campaign, Mapping):
            return _validation(problems, rid, now)
        assert brand is not None
        created = campaign_response(
            campaign, str(uuid.uuid4()), brand["id"], self.organization.id, now
        )
        record.campaigns.append(created)
        return ok_reply(201, created, rid, now)

    def update_campaign(
        self, record: ProfileRecord, campaign_id: str, body: Mapping[str, Any], rid: str
    ) -> Reply:
        """``PUT /v3/profiles/{id}/campaigns/{campaignId}``: a full replace."""
        now = self.clock.now()
        index = next((i for i, c in enumerate(record.campaigns) if c["id"] == campaign_id), None)
        if index is None:
            return error_reply(404, "RESOURCE_014", "Campaign not found", rid, now)
        old = record.campaigns[index]
        campaign = body.get("campaign")
        problems = validate_campaign_request(body)
        if old["submittedToTCR"]:
            problems.append(
                Problem("campaign", "Campaign has been submitted to TCR and cannot be updated.")
            )
        if problems or not isinstance(campaign, Mapping):
            return _validation(problems, rid, now)
        new = campaign_response(campaign, campaign_id, old["brandId"], old["customerId"], now)
        new["createdAt"] = old["createdAt"]
        record.campaigns[index] = new
        return ok_reply(200, new, rid, now)

    def delete_campaign(self, record: ProfileRecord, campaign_id: str, rid: str) -> Reply:
        """``DELETE /v3/profiles/{id}/campaigns/{campaignId}``."""
        before = len(record.campaigns)
        record.campaigns = [c for c in record.campaigns if c["id"] != campaign_id]
        if len(record.campaigns) == before:
            return error_reply(404, "RESOURCE_014", "Campaign not found", rid, self.clock.now())
        return Reply(204, None)


def _validation(
    problems: list[Problem], rid: str, now: datetime, *, catalog_doc: bool = False
) -> Reply:
    details: dict[str, list[str]] = {}
    for problem in problems:
        details.setdefault(problem.path, []).append(problem.message)
    return error_reply(
        400, "VALIDATION_001", "Request validation failed", rid, now,
        details=details, catalog_doc=catalog_doc,
    )  # fmt: skip
