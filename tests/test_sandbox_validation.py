"""The sandbox refuses what the spec validator refuses: 400 VALIDATION_001, details by path."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

EXAMPLES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "seed_examples.json").read_text(encoding="utf-8")
)
CAMPAIGN = {
    "name": "Reminders", "description": "Appointment reminders", "type": "App",
    "useCases": [{"messagingUseCaseUs": "ACCOUNT_NOTIFICATION", "sampleMessages": ["Hi {name}."]}],
}  # fmt: skip


@pytest.fixture
def http(sandbox_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=sandbox_url, headers={"x-api-key": "sandbox-key"}, timeout=60
    ) as client:
        yield client


def _details(response: httpx.Response) -> dict[str, list[str]]:
    assert response.status_code == 400, response.text[:500]
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("VALIDATION_001", "Request validation failed")
    details: dict[str, list[str]] = error["details"]
    return details


def _create_body(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(EXAMPLES["create_request"])
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = body
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value
    return body


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"brand__compliance__isTcrApplication": "true"},
         {"brand.compliance.isTcrApplication": ["brand.compliance.isTcrApplication must be true or false"]}),
        ({"brand__compliance__destinationCountries__0__isMain": 1},
         {"brand.compliance.destinationCountries[0].isMain":
          ["brand.compliance.destinationCountries[0].isMain must be true or false"]}),
        ({"brand__contact__nickname": "Johnny"}, {"brand.contact.nickname": ["unknown field"]}),
        ({"brand__business__taxId": 123456789},
         {"brand.business.taxId": ["brand.business.taxId must be a string"]}),
        ({"allow_contact_sharing": "true"},
         {"allow_contact_sharing": ["allow_contact_sharing must be true or false"]}),
        ({"allow_template_sharing": None},
         {"allow_template_sharing": ["allow_template_sharing must be true or false"]}),
        ({"billing_contact__phone": 2025551234},
         {"billing_contact.phone": ["billing_contact.phone must be a string"]}),
        ({"whatsapp_business_account__extra": "x"},
         {"whatsapp_business_account.extra": ["unknown field"]}),
        ({"icon": "https://" + "a" * 2048},
         {"icon": ["icon must be at most 2048 characters"]}),
        ({"sending_phone_number": "+12025550101"}, {"sending_phone_number": ["unknown field"]}),
    ],
)  # fmt: skip
def test_create_refuses_wrong_types_unknown_fields_and_sizes(
    http: httpx.Client, changes: dict[str, Any], expected: dict[str, list[str]]
) -> None:
    """POST /v3/profiles answers 400 VALIDATION_001 with the offending path and the rule."""
    response = http.post("/v3/profiles", json=_create_body(**changes))
    assert _details(response) == expected
    assert http.get("/v3/profiles").json()["data"]["profiles"] == []


@pytest.mark.timeout(60)
def test_create_refuses_a_50_mb_field(http: httpx.Client) -> None:
    """A 50 MB description is refused at its path, and the answer does not echo it."""
    response = http.post("/v3/profiles", json=_create_body(description="x" * (50 * 1024 * 1024)))
    assert _details(response) == {"description": ["description must be at most 5000 characters"]}
    assert len(response.content) < 2000


def test_deeply_nested_body_is_a_validation_error(http: httpx.Client) -> None:
    """A body nested far too deep is answered 400, not 500."""
    raw = '{"name": "n", "description": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = http.post("/v3/profiles", content=raw, headers={"content-type": "application/json"})
    assert _details(response) == {"body": ["nested deeper than 32 levels"]}


def test_update_refuses_wrong_types(http: httpx.Client) -> None:
    """PATCH refuses a number for a phone and a string for a flag, by path."""
    created = http.post("/v3/profiles", json=_create_body()).json()["data"]
    response = http.patch(
        f"/v3/profiles/{created['id']}",
        json={"sending_phone_number": 12025550101, "allow_number_change_during_onboarding": "yes"},
    )
    assert _details(response) == {
        "sending_phone_number": ["sending_phone_number must be a string"],
        "allow_number_change_during_onboarding": [
            "allow_number_change_during_onboarding must be true or false"
        ],
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"volume": "1000"}, {"campaign.volume": ["unknown field"]}),
        ({"helpKeywords": ["HELP"]}, {"campaign.helpKeywords": ["campaign.helpKeywords must be a string"]}),
        ({"privacyPolicyLink": "https://" + "a" * 2048},
         {"campaign.privacyPolicyLink": ["campaign.privacyPolicyLink must be at most 2048 characters"]}),
        ({"useCases": [{"messagingUseCaseUs": "MARKETING", "sampleMessages": ["hi"], "x": 1}]},
         {"campaign.useCases[0].x": ["unknown field"]}),
        ({"name": 5}, {"campaign.name": ["campaign.name must be a string"]}),
    ],
)  # fmt: skip
def test_campaign_create_refuses_what_the_spec_refuses(
    http: httpx.Client, changes: dict[str, Any], expected: dict[str, list[str]]
) -> None:
    """POST .../campaigns answers 400 VALIDATION_001 keyed by the campaign path."""
    profile = http.post("/v3/profiles", json=_create_body()).json()["data"]
    response = http.post(
        f"/v3/profiles/{profile['id']}/campaigns", json={"campaign": {**CAMPAIGN, **changes}}
    )
    assert _details(response) == expected
    listed = http.get(f"/v3/profiles/{profile['id']}/campaigns").json()["data"]
    assert listed == []


def test_campaign_request_wrapper_is_strict(http: httpx.Client) -> None:
    """The campaign request takes 'campaign' and a boolean 'sandbox', nothing else."""
    profile = http.post("/v3/profiles", json=_create_body()).json()["data"]
    response = http.post(
        f"/v3/profiles/{profile['id']}/campaigns",
        json={"campaign": CAMPAIGN, "sandbox": "no", "extra": 1},
    )
    assert _details(response) == {
        "sandbox": ["sandbox must be true or false"],
        "extra": ["unknown field"],
    }
    ok = http.post(
        f"/v3/profiles/{profile['id']}/campaigns", json={"campaign": CAMPAIGN, "sandbox": False}
    )
    assert ok.status_code == 201
