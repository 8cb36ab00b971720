"""The brand and campaign objects the sandbox answers, shaped as Sent's seeds show them.

A brand answers in snake_case, a campaign in camelCase, each echoing what the request gave and
filling the rest as a new, unsubmitted resource does.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from workflow.sandbox.envelope import timestamp

__all__ = ["billing_contact", "brand_response", "campaign_response"]


def billing_contact(contact: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if contact is None:
        return None
    return {key: contact.get(key) for key in ("name", "email", "phone", "address")}


def brand_response(request: Mapping[str, Any], brand_id: str, now: datetime) -> dict[str, Any]:
    """The response ``brand`` (snake_case) for a request brand, echoing what the seeds echo."""
    contact = request.get("contact") or {}
    business = request.get("business") or {}
    compliance = request.get("compliance") or {}
    countries = compliance.get("destinationCountries") or []
    return {
        "id": brand_id, "tcr_brand_id": None, "status": None, "identity_status": None,
        "universal_ein": None, "csp_id": None, "submitted_to_tcr": False, "submitted_at": None,
        "is_inherited": False, "created_at": timestamp(now), "updated_at": None,
        "contact": {
            "name": contact.get("name"), "business_name": contact.get("businessName"),
            "role": None, "phone": None, "email": contact.get("email"), "phone_country_code": None,
        },
        "business": {
            "legal_name": business.get("legalName"), "tax_id": None, "tax_id_type": None,
            "entity_type": None, "street": None, "city": None, "state": None,
            "postal_code": None, "country": business.get("country"), "url": None,
            "country_of_registration": None,
        },
        "compliance": {
            "vertical": compliance.get("vertical"),
            "brand_relationship": compliance.get("brandRelationship"),
            "primary_use_case": None, "expected_messaging_volume": None,
            "is_tcr_application": compliance.get("isTcrApplication"),
            "phone_number_prefix": None,
            "destination_countries": [
                {"id": c.get("id"), "isMain": bool(c.get("isMain"))} for c in countries
            ],
            "notes": compliance.get("notes"),
        },
    }  # fmt: skip


def campaign_response(
    request: Mapping[str, Any], campaign_id: str, brand_id: str | None, customer: str, now: datetime
) -> dict[str, Any]:
    stamp = timestamp(now)
    use_cases = [
        {
            "id": str(uuid.uuid4()), "createdAt": stamp, "updatedAt": stamp,
            "campaignId": campaign_id, "customerId": customer,
            "messagingUseCaseUs": use.get("messagingUseCaseUs"),
            "sampleMessages": list(use.get("sampleMessages") or []),
        }
        for use in request.get("useCases") or []
    ]  # fmt: skip
    optional = (
        "helpKeywords", "helpMessage", "messageFlow", "optinKeywords", "optinMessage",
        "optoutKeywords", "optoutMessage", "privacyPolicyLink", "termsAndConditionsLink",
    )  # fmt: skip
    return {
        "id": campaign_id, "createdAt": stamp, "updatedAt": stamp,
        "name": request.get("name"), "description": request.get("description"),
        "type": request.get("type"), "brandId": brand_id, "customerId": customer,
        "cspId": None, "resellerId": None, "kycSubmissionFormId": None, "upstreamCnpId": None,
        "telnyxCampaignId": None, "status": "SENT_CREATED", "submittedToTCR": False,
        "submittedAt": None, "tcrCampaignId": None, "tcrSyncError": None,
        "sharingStatus": None, "cost": None, "billedDate": None,
        **{key: request.get(key) for key in optional},
        "useCases": use_cases,
    }  # fmt: skip
