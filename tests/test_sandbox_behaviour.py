"""Sandbox behaviour beyond the seed examples: auth, idempotency, scoping, faults, callbacks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from workflow.sandbox import FaultConfig, OrganizationConfig, Sandbox, ServerThread, sign

KEY = {"x-api-key": "sandbox-key"}
PROFILE = {"name": "Ops", "short_name": "Ops", "description": "d", "billing_model": "organization"}


@pytest.fixture
def http(sandbox_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox_url, headers=KEY, timeout=10) as client:
        yield client


def _mutations(http: httpx.Client) -> dict[str, int]:
    counts: dict[str, int] = http.get("/_sandbox/state").json()["mutations"]
    return counts


def test_missing_or_wrong_api_key_is_401(sandbox_url: str) -> None:
    """No x-api-key, or an unknown one, answers 401 and does nothing."""
    with httpx.Client(base_url=sandbox_url) as client:
        assert client.post("/v3/profiles", json=PROFILE).status_code == 401
        assert client.get("/v3/profiles", headers={"x-api-key": "wrong"}).status_code == 401
        assert client.get("/_sandbox/state").json()["profiles"] == []


def test_same_key_same_body_replays_and_creates_one_profile(http: httpx.Client) -> None:
    """A repeated create with one Idempotency-Key replays status and body; one profile exists."""
    headers = {"Idempotency-Key": "onb-1-create-0"}
    first = http.post("/v3/profiles", json=PROFILE, headers=headers)
    second = http.post("/v3/profiles", json=PROFILE, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    assert len(http.get("/v3/profiles").json()["data"]["profiles"]) == 1
    assert _mutations(http) == {"create_profile executed": 1, "create_profile replayed": 1}


def test_same_key_different_body_is_refused(http: httpx.Client) -> None:
    """Reusing a key with another body answers 422 with details on Idempotency-Key."""
    headers = {"Idempotency-Key": "onb-1-create-0"}
    http.post("/v3/profiles", json=PROFILE, headers=headers)
    other = http.post("/v3/profiles", json={**PROFILE, "name": "Other"}, headers=headers)
    assert other.status_code == 422
    assert list(other.json()["error"]["details"]) == ["Idempotency-Key"]
    assert len(http.get("/v3/profiles").json()["data"]["profiles"]) == 1


def test_keys_are_scoped_per_api_key(sandbox: Sandbox, http: httpx.Client) -> None:
    """The same Idempotency-Key under another API key is a different request."""
    sandbox.state.organization = OrganizationConfig(api_keys=["sandbox-key", "other-key"])
    headers = {"Idempotency-Key": "shared"}
    http.post("/v3/profiles", json=PROFILE, headers=headers)
    http.post("/v3/profiles", json=PROFILE, headers={**headers, "x-api-key": "other-key"})
    assert len(http.get("/v3/profiles").json()["data"]["profiles"]) == 2


def test_keys_expire_after_24_hours_of_sandbox_time(http: httpx.Client) -> None:
    """Past the 24 h window the same key executes again."""
    headers = {"Idempotency-Key": "late"}
    http.post("/v3/profiles", json=PROFILE, headers=headers)
    http.post("/_sandbox/clock", json={"advance_seconds": 24 * 3600 - 1})
    http.post("/v3/profiles", json=PROFILE, headers=headers)
    assert len(http.get("/v3/profiles").json()["data"]["profiles"]) == 1
    http.post("/_sandbox/clock", json={"advance_seconds": 2})
    http.post("/v3/profiles", json=PROFILE, headers=headers)
    assert len(http.get("/v3/profiles").json()["data"]["profiles"]) == 2


def test_bad_idempotency_key_is_refused(http: httpx.Client) -> None:
    """A key outside ^[a-zA-Z0-9_-]+$ answers VALIDATION_001 on Idempotency-Key."""
    response = http.post("/v3/profiles", json=PROFILE, headers={"Idempotency-Key": "has space"})
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["Idempotency-Key"]


def test_x_profile_id_scopes_requests(http: httpx.Client) -> None:
    """x-profile-id narrows the list to that profile; an unknown one is 404 RESOURCE_014."""
    a = http.post("/v3/profiles", json=PROFILE).json()["data"]["id"]
    http.post("/v3/profiles", json={**PROFILE, "name": "B"})
    scoped = http.get("/v3/profiles", headers={"x-profile-id": a}).json()["data"]["profiles"]
    assert [p["id"] for p in scoped] == [a]
    unknown = http.get(
        "/v3/profiles", headers={"x-profile-id": "00000000-0000-4000-8000-000000000000"}
    )
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "RESOURCE_014")


def test_inherited_brand_and_campaigns_are_visible(sandbox: Sandbox, http: httpx.Client) -> None:
    """A profile inheriting brand and campaigns sees the organization's, marked inherited."""
    profile = http.post("/v3/profiles", json=PROFILE).json()["data"]
    assert profile["brand"]["is_inherited"] is True
    campaigns = http.get(f"/v3/profiles/{profile['id']}/campaigns").json()["data"]
    assert [c["id"] for c in campaigns] == [sandbox.state.org_campaigns[0]["id"]]
    sandbox.state.organization = OrganizationConfig(has_brand=False, has_campaigns=False)
    assert http.get(f"/v3/profiles/{profile['id']}").json()["data"]["brand"] is None
    assert http.get(f"/v3/profiles/{profile['id']}/campaigns").json()["data"] == []


def test_complete_names_every_unmet_prerequisite(sandbox: Sandbox, http: httpx.Client) -> None:
    """/complete answers 400 with every unmet prerequisite in details."""
    sandbox.state.organization = OrganizationConfig(has_brand=False, has_campaigns=False)
    profile = http.post("/v3/profiles", json={**PROFILE, "description": None}).json()["data"]
    response = http.post(f"/v3/profiles/{profile['id']}/complete", json={"webHookUrl": "http://x"})
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {
        "profile",
        "inherit_tcr_brand",
        "inherit_tcr_campaign",
    }


def test_campaign_crud(http: httpx.Client) -> None:
    """Campaigns: create (camelCase), list, full replace with PUT, delete."""
    profile = http.post("/v3/profiles", json={**PROFILE, "inherit_tcr_campaign": False}).json()[
        "data"
    ]
    campaign = {
        "name": "Alerts", "description": "d", "type": "App",
        "useCases": [{"messagingUseCaseUs": "FRAUD_ALERT", "sampleMessages": ["Was this you?"]}],
    }  # fmt: skip
    base = f"/v3/profiles/{profile['id']}/campaigns"
    created = http.post(base, json={"campaign": campaign})
    assert created.status_code == 201
    cid = created.json()["data"]["id"]
    assert created.json()["data"]["useCases"][0]["sampleMessages"] == ["Was this you?"]
    updated = http.put(f"{base}/{cid}", json={"campaign": {**campaign, "name": "Alerts 2"}})
    assert updated.json()["data"]["name"] == "Alerts 2"
    assert [c["id"] for c in http.get(base).json()["data"]] == [cid]
    assert http.request("DELETE", f"{base}/{cid}", json={}).status_code == 204
    assert http.get(base).json()["data"] == []
    bad = http.post(base, json={"campaign": {**campaign, "useCases": []}})
    assert list(bad.json()["error"]["details"]) == ["campaign.useCases"]


def test_error_rates_fire_at_the_configured_rate(sandbox: Sandbox, http: httpx.Client) -> None:
    """With 30% 503s over 400 reads, the share of 503s is near 30% and nothing else fails."""
    sandbox.faults.configure(FaultConfig(error_rates={503: 0.3}, seed=7))
    statuses = [http.get("/v3/profiles").status_code for _ in range(400)]
    share = statuses.count(503) / len(statuses)
    assert 0.22 < share < 0.38
    assert set(statuses) == {200, 503}


def test_429_carries_retry_after(sandbox: Sandbox, http: httpx.Client) -> None:
    """An injected 429 tells the client how long to wait."""
    sandbox.faults.configure(FaultConfig(error_rates={429: 1.0}, retry_after=2.5))
    response = http.get("/v3/profiles")
    assert (response.status_code, response.headers["retry-after"]) == (429, "2.5")


def test_rate_limit(sandbox: Sandbox, http: httpx.Client) -> None:
    """Past the per-key rate, requests get 429."""
    sandbox.faults.configure(FaultConfig(rate_limit_per_second=5))
    statuses = [http.get("/v3/profiles").status_code for _ in range(20)]
    assert statuses[:5] == [200] * 5
    assert 429 in statuses


def test_lost_response_executes_once_and_replays(sandbox: Sandbox, http: httpx.Client) -> None:
    """A lost reply means the work happened: the retry with the same key replays it."""
    sandbox.faults.configure(FaultConfig(lost_response_rate=1.0))
    headers = {"Idempotency-Key": "lost-1"}
    assert http.post("/v3/profiles", json=PROFILE, headers=headers).status_code == 502
    sandbox.faults.configure(FaultConfig())
    retry = http.post("/v3/profiles", json=PROFILE, headers=headers)
    assert retry.status_code == 201
    assert len(http.get("/v3/profiles").json()["data"]["profiles"]) == 1
    assert _mutations(http) == {
        "create_profile executed": 1, "create_profile response_lost": 1, "create_profile replayed": 1,
    }  # fmt: skip


def test_hanging_requests_time_clients_out(sandbox: Sandbox, http: httpx.Client) -> None:
    """A hanging request outlasts a short client timeout."""
    sandbox.faults.configure(FaultConfig(hang_rate=1.0, hang_seconds=2))
    with pytest.raises(httpx.ReadTimeout):
        http.get("/v3/profiles", timeout=0.3)


def test_faults_change_at_run_time_over_http(http: httpx.Client) -> None:
    """PUT /_sandbox/faults replaces the configuration while serving."""
    http.put("/_sandbox/faults", json={"error_rates": {"500": 1.0}})
    assert http.get("/v3/profiles").status_code == 500
    http.put("/_sandbox/faults", json={})
    assert http.get("/v3/profiles").status_code == 200


class _Receiver:
    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()

        async def hook(request: Request) -> Response:
            self.calls.append((dict(request.headers), await request.body()))
            self.arrived.set()
            return Response(status_code=204)

        self.app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@pytest.mark.parametrize("duplicate", [False, True])
def test_completion_callback_is_signed_and_may_be_duplicated(duplicate: bool) -> None:
    """The background completion calls webHookUrl with a Standard Webhooks signature."""
    receiver = _Receiver()
    box = Sandbox(
        OrganizationConfig(completion_delay_seconds=0.05, brand_is_tcr_application=False),
        FaultConfig(callback_duplicate_rate=1.0 if duplicate else 0.0),
        signing_secret="whsec_c2VjcmV0",
    )
    with (
        ServerThread(receiver.app) as hook,
        ServerThread(box.app) as server,
        httpx.Client(base_url=server.url, headers=KEY) as http,
    ):
        profile = http.post("/v3/profiles", json=PROFILE).json()["data"]
        http.patch(f"/v3/profiles/{profile['id']}", json={"whatsapp_phone_number": "+12025550100"})
        http.post(
            f"/v3/profiles/{profile['id']}/complete",
            json={"webHookUrl": hook.url + "/hook?token=t"},
        )
        assert receiver.arrived.wait(5)
        deadline = time.monotonic() + 5
        while len(receiver.calls) < (2 if duplicate else 1) and time.monotonic() < deadline:
            time.sleep(0.01)
        box.completer.close()
    headers, body = receiver.calls[0]
    assert json.loads(body)["status"] == "completed"
    assert headers["webhook-signature"] == sign(
        "whsec_c2VjcmV0", headers["webhook-id"], headers["webhook-timestamp"], body
    )
    assert len(receiver.calls) == (2 if duplicate else 1)


def test_dropped_callbacks_are_counted(sandbox: Sandbox, http: httpx.Client) -> None:
    """A dropped callback is not sent, but the profile's status still changes."""
    sandbox.faults.configure(FaultConfig(callback_drop_rate=1.0))
    profile = http.post(
        "/v3/profiles",
        json={**PROFILE, "whatsapp_business_account": {"waba_id": "1", "access_token": "t"}},
    ).json()["data"]
    http.post(f"/v3/profiles/{profile['id']}/complete", json={"webHookUrl": "http://127.0.0.1:9/x"})
    http.post("/_sandbox/flush")
    state: dict[str, Any] = http.get("/_sandbox/state").json()
    assert state["callbacks"] == {"sent": 0, "dropped": 1}
    assert state["profiles"][0]["status"] == "submitted"  # no channels: rule 1
