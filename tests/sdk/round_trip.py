"""Run by tests/test_sdk_conformance.py in a subprocess, with one ``sentdm`` release first on
``sys.path``: every profile and campaign endpoint against the sandbox at ``argv[1]``, printed as
one JSON object (the version, what each call answered, and the fields its models declare that
the JSON left out)."""

from __future__ import annotations

import json
import sys
import warnings
from typing import Any

import sent_dm
from sent_dm import NotFoundError, Sent

BRAND = {
    "contact": {"name": "John Smith", "business_name": "Acme Corp", "email": "john@acmecorp.com"},
    "business": {"legal_name": "Acme Corporation LLC", "country": "US"},
    "compliance": {"vertical": "PROFESSIONAL", "brand_relationship": "SMALL_ACCOUNT",
                   "is_tcr_application": True, "destination_countries": [{"id": "US", "is_main": False}]},
}  # fmt: skip
CAMPAIGN = {
    "name": "Reminders", "description": "Appointment reminders", "type": "App",
    "use_cases": [{"messaging_use_case_us": "ACCOUNT_NOTIFICATION",
                   "sample_messages": ["Hi {name}, your appointment is confirmed for {date}."]}],
}  # fmt: skip


def missing(model: Any, path: str = "response") -> list[str]:
    """Fields an SDK model declares that the JSON did not carry (recursively)."""
    found = [f"{path}.{n}" for n in type(model).model_fields if n not in model.model_fields_set]
    for name in model.model_fields_set:
        value = getattr(model, name)
        for index, item in enumerate(value if isinstance(value, list) else [value]):
            if hasattr(type(item), "model_fields"):
                found += missing(
                    item, f"{path}.{name}" + (f"[{index}]" if isinstance(value, list) else "")
                )
    return found


def main(url: str) -> dict[str, Any]:
    warnings.simplefilter("ignore", DeprecationWarning)  # /v3/profiles is deprecated in 0.35+
    out: dict[str, Any] = {"version": sent_dm.__version__, "missing": []}
    with Sent(api_key="sandbox-key", base_url=url, max_retries=0) as client:
        created = client.profiles.create(
            name="Sales Team", short_name="SALES", description="Sales department sender profile",
            inherit_tcr_brand=False, inherit_tcr_campaign=False, billing_model="organization",
            whatsapp_business_account={"waba_id": "123", "phone_number_id": "987", "access_token": "EAAsdk"},
            brand=BRAND, idempotency_key="sdk-create",
        )  # fmt: skip
        out["missing"] += missing(created)
        profile_id = created.data.id
        out["created_status"] = created.data.status
        fetched = client.profiles.retrieve(profile_id)
        out["missing"] += missing(fetched)
        listed = client.profiles.list()
        out["listed"] = [p.id for p in listed.data.profiles] == [profile_id]
        updated = client.profiles.update(
            profile_id, sending_phone_number="+12025550101", idempotency_key="sdk-update"
        )
        out["updated_number"] = updated.data.sending_phone_number
        campaign = client.profiles.campaigns.create(
            profile_id, campaign=CAMPAIGN, idempotency_key="sdk-campaign"
        )
        out["campaign_use_case"] = campaign.data.use_cases[0].messaging_use_case_us
        out["campaigns_listed"] = [c.id for c in client.profiles.campaigns.list(profile_id).data]
        out["campaign_id"] = campaign.data.id
        accepted = client.profiles.complete(
            profile_id, web_hook_url="http://127.0.0.1:9/hook", idempotency_key="sdk-complete"
        )
        out["accepted"] = accepted.data.message
        replay = client.profiles.with_raw_response.complete(
            profile_id, web_hook_url="http://127.0.0.1:9/hook", idempotency_key="sdk-complete"
        )
        out["replayed"] = replay.headers.get("idempotent-replayed")
        out["replay_message"] = replay.parse().data.message
        client.profiles.delete(profile_id)
        try:
            client.profiles.retrieve(profile_id)
            out["deleted"] = False
        except NotFoundError as exc:
            out["deleted"] = exc.body["error"]["code"]
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
