"""The seeds' example requests, sent as written, get the seeds' example responses.

Ids, timestamps and request ids are generated, so they are compared by shape only.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from workflow.sandbox import FaultConfig, OrganizationConfig, Sandbox, ScriptedFault, ServerThread

EXAMPLES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "seed_examples.json").read_text(encoding="utf-8")
)
GENERATED = {"id", "created_at", "updated_at", "request_id", "timestamp", "createdAt", "updatedAt"}
KEY = {"x-api-key": "sandbox-key"}


def _scrub(value: Any) -> Any:
    """Replace generated values (ids, timestamps, request ids) by a marker."""
    if isinstance(value, dict):
        return {
            k: ("<generated>" if k in GENERATED and v is not None else _scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"req_[A-Za-z0-9]+", "req_<id>", value)
    return value


@pytest.fixture
def http(sandbox_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox_url, headers=KEY, timeout=10) as client:
        yield client


def test_create_example_answers_the_seed_response(http: httpx.Client) -> None:
    """POST /v3/profiles with the seed's body returns the seed's ProfileDetail, field for field."""
    response = http.post(
        "/v3/profiles",
        json=EXAMPLES["create_request"],
        headers={"Idempotency-Key": "req_abc123_retry1"},
    )
    assert response.status_code == 201
    assert _scrub(response.json()) == _scrub(EXAMPLES["create_responses"][0])


def test_create_validation_example(http: httpx.Client) -> None:
    """The seed's VALIDATION_001 example comes out word for word."""
    body = copy.deepcopy(EXAMPLES["create_request"])
    del body["name"]
    body["short_name"] = "S"
    body["payment_details"]["expiry"] = "2027-09"
    response = http.post("/v3/profiles", json=body)
    assert response.status_code == 400
    assert _scrub(response.json()) == _scrub(EXAMPLES["create_responses"][1])


def test_create_without_any_whatsapp_account_is_422(sandbox: Sandbox, http: httpx.Client) -> None:
    """Omitting the WABA when the organization has none answers the seed's 422 text."""
    sandbox.state.organization = OrganizationConfig(has_whatsapp_account=False)
    body = copy.deepcopy(EXAMPLES["create_request"])
    del body["whatsapp_business_account"]
    response = http.post("/v3/profiles", json=body)
    assert response.status_code == 422
    assert _scrub(response.json()) == _scrub(EXAMPLES["create_responses"][3])


def test_organization_not_found_example(sandbox: Sandbox, http: httpx.Client) -> None:
    """RESOURCE_005 as the create and list seeds show it."""
    sandbox.state.organization = OrganizationConfig(exists=False)
    created = http.post("/v3/profiles", json=EXAMPLES["create_request"])
    listed = http.get("/v3/profiles")
    assert (created.status_code, listed.status_code) == (404, 404)
    assert _scrub(created.json()) == _scrub(EXAMPLES["create_responses"][2])
    assert _scrub(listed.json()) == _scrub(EXAMPLES["list_responses"][1])


@pytest.mark.parametrize(
    ("method", "path", "example"),
    [
        ("POST", "/v3/profiles", ("create_responses", 4)),
        ("GET", "/v3/profiles", ("list_responses", 2)),
        ("PATCH", "/v3/profiles/{id}", ("update_responses", 3)),
        ("DELETE", "/v3/profiles/{id}", ("delete_responses", 1)),
    ],
)
def test_internal_error_examples(
    sandbox: Sandbox, http: httpx.Client, method: str, path: str, example: tuple[str, int]
) -> None:
    """An injected 500 answers INTERNAL_001 in the seed's words, quoting the request id."""
    created = http.post("/v3/profiles", json=EXAMPLES["create_request"]).json()["data"]["id"]
    sandbox.faults.configure(FaultConfig(scripted=[ScriptedFault(method=method, status=500)]))
    body = (
        {"name": "x"}
        if method == "PATCH"
        else ({} if method == "DELETE" else EXAMPLES["create_request"])
    )
    response = http.request(method, path.format(id=created), json=body if method != "GET" else None)
    assert response.status_code == 500
    payload = response.json()
    assert _scrub(payload) == _scrub(EXAMPLES[example[0]][example[1]])
    assert payload["meta"]["request_id"] in payload["error"]["message"]


def test_update_example_and_its_errors(http: httpx.Client) -> None:
    """The PATCH example updates what it sends and leaves null fields alone; its errors match."""
    body = {k: v for k, v in EXAMPLES["create_request"].items() if k != "brand"}
    created = http.post("/v3/profiles", json=body).json()["data"]
    assert created["brand"] is None
    response = http.patch(f"/v3/profiles/{created['id']}", json=EXAMPLES["update_request"])
    assert response.status_code == 200
    data = response.json()["data"]
    expected = EXAMPLES["update_responses"][0]["data"]
    for field in ("name", "description", "short_name", "billing_model", "inherit_tcr_brand"):
        assert data[field] == expected[field]
    assert data["icon"] == created["icon"]  # "icon": null leaves it unchanged
    assert data["inherit_contacts"] == created["inherit_contacts"]
    assert _scrub(data["brand"]) == _scrub(expected["brand"])

    bad = {
        "inherit_tcr_brand": True,
        "billing_model": "profile",
        "brand": EXAMPLES["update_request"]["brand"],
        "payment_details": {
            "card_number": "4242424242424242",
            "expiry": "9/27",
            "cvc": "123",
            "zip_code": "1",
        },
    }
    response = http.patch(f"/v3/profiles/{created['id']}", json=bad)
    assert response.status_code == 400
    assert _scrub(response.json()) == _scrub(EXAMPLES["update_responses"][1])

    missing = http.patch("/v3/profiles/string", json=EXAMPLES["update_request"])
    assert missing.status_code == 404
    assert _scrub(missing.json()) == _scrub(EXAMPLES["update_responses"][2])


def test_list_example_shape(http: httpx.Client) -> None:
    """GET /v3/profiles answers {"profiles": [...]} with every field the seed shows."""
    http.post("/v3/profiles", json=EXAMPLES["create_request"])
    listed = http.get("/v3/profiles").json()
    expected = EXAMPLES["list_responses"][0]
    assert listed.keys() == expected.keys()
    mine, theirs = listed["data"]["profiles"][0], expected["data"]["profiles"][0]
    assert list(mine) == list(theirs)
    assert list(mine["brand"]) == list(theirs["brand"])
    for part in ("contact", "business", "compliance"):
        assert list(mine["brand"][part]) == list(theirs["brand"][part])


def test_delete_example(sandbox: Sandbox, http: httpx.Client) -> None:
    """DELETE soft-deletes (204, then 404 RESOURCE_014 as in the seed; still inspectable)."""
    created = http.post("/v3/profiles", json=EXAMPLES["create_request"]).json()["data"]["id"]
    assert (
        http.request(
            "DELETE", f"/v3/profiles/{created}", json=EXAMPLES["delete_request"]
        ).status_code
        == 204
    )
    again = http.request("DELETE", f"/v3/profiles/{created}", json=EXAMPLES["delete_request"])
    assert again.status_code == 404
    assert _scrub(again.json()) == _scrub(EXAMPLES["delete_responses"][0])
    assert http.get(f"/v3/profiles/{created}").status_code == 404
    inspected = http.get("/_sandbox/state").json()["profiles"]
    assert [(p["id"], p["deleted"]) for p in inspected] == [(created, True)]


def test_complete_examples(sandbox: Sandbox, http: httpx.Client) -> None:
    """/complete answers 202 "in progress", then 200 "already completed" once it has finished."""
    body = copy.deepcopy(EXAMPLES["create_request"])
    body.update(inherit_tcr_brand=True, inherit_tcr_campaign=True)
    del body["brand"]
    profile = http.post("/v3/profiles", json=body).json()["data"]
    http.patch(f"/v3/profiles/{profile['id']}", json={"sending_phone_number": "+12025550101"})
    sandbox.state.organization = OrganizationConfig(brand_is_tcr_application=False)
    sandbox.state.org_brand["compliance"]["is_tcr_application"] = False
    first = http.post(f"/v3/profiles/{profile['id']}/complete", json=EXAMPLES["complete_request"])
    assert first.status_code == 202
    assert _scrub(first.json()) == _scrub(EXAMPLES["complete_responses"][1])
    sandbox.completer.flush()
    assert http.get(f"/v3/profiles/{profile['id']}").json()["data"]["status"] == "completed"
    second = http.post(f"/v3/profiles/{profile['id']}/complete", json=EXAMPLES["complete_request"])
    assert second.status_code == 200
    assert _scrub(second.json()) == _scrub(EXAMPLES["complete_responses"][0])


def test_sandbox_is_usable_in_process_through_asgi_transport() -> None:
    """The sandbox's ASGI app answers through httpx.ASGITransport without a server."""
    import asyncio

    box = Sandbox()

    async def run() -> int:
        transport = httpx.ASGITransport(app=box.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sandbox", headers=KEY
        ) as client:
            response = await client.post("/v3/profiles", json=EXAMPLES["create_request"])
            return response.status_code

    assert asyncio.run(run()) == 201
    box.close()


def test_served_standalone_server_starts_and_stops() -> None:
    """ServerThread serves the sandbox on a free loopback port and shuts down cleanly."""
    box = Sandbox()
    with ServerThread(box.app) as server, httpx.Client(headers=KEY) as client:
        assert client.get(server.url + "/v3/profiles").status_code == 200
    with pytest.raises(httpx.ConnectError), httpx.Client(headers=KEY, timeout=1) as client:
        client.get(server.url + "/v3/profiles")
    box.close()
