"""Sandbox options for later API behaviour: rejections, x-profile-id checks, cached refusals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from workflow.sandbox import OrganizationConfig, Sandbox, ServerThread

KEY = {"x-api-key": "sandbox-key"}
PROFILE = {"name": "Ops", "short_name": "Ops", "description": "d", "billing_model": "organization"}


@pytest.fixture
def http(sandbox_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox_url, headers=KEY, timeout=10) as client:
        yield client


def _served(box: Sandbox) -> Iterator[httpx.Client]:
    with (
        ServerThread(box.app) as server,
        httpx.Client(base_url=server.url, headers=KEY, timeout=10) as client,
    ):
        yield client
    box.close()


def test_rejection_reason_makes_completions_end_rejected(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    """With rejection_reason set, a completion ends 'rejected' and the profile carries the reason."""
    reason = "Brand information could not be verified"
    http.put("/_sandbox/organization", json={"rejection_reason": reason})
    profile = http.post("/v3/profiles", json=PROFILE).json()["data"]
    assert "rejection_reason" not in profile
    accepted = http.post(f"/v3/profiles/{profile['id']}/complete", json={"webHookUrl": "http://x"})
    assert accepted.status_code == 202
    sandbox.completer.flush()
    fetched = http.get(f"/v3/profiles/{profile['id']}").json()["data"]
    assert (fetched["status"], fetched["rejection_reason"]) == ("rejected", reason)


def test_an_empty_rejection_reason_is_refused() -> None:
    """A rejection needs words: an empty reason is a configuration error naming the field."""
    with pytest.raises(ValueError, match="rejection_reason"):
        OrganizationConfig(rejection_reason="")


def test_x_profile_id_naming_another_profile_is_not_found(http: httpx.Client) -> None:
    """x-profile-id scopes a call to one profile: a path naming another answers 404 RESOURCE_014."""
    a = http.post("/v3/profiles", json=PROFILE).json()["data"]["id"]
    b = http.post("/v3/profiles", json={**PROFILE, "name": "B"}).json()["data"]["id"]
    refused = http.patch(
        f"/v3/profiles/{b}", json={"description": "changed"}, headers={"x-profile-id": a}
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "RESOURCE_014")
    assert http.get(f"/v3/profiles/{b}").json()["data"]["description"] == "d"
    own = http.get(f"/v3/profiles/{b}", headers={"x-profile-id": b})
    assert own.status_code == 200


def test_the_x_profile_id_of_each_request_is_recorded(http: httpx.Client) -> None:
    """/_sandbox/state shows, per profile, which x-profile-id each operation carried (refused too)."""
    a = http.post("/v3/profiles", json=PROFILE).json()["data"]["id"]
    b = http.post("/v3/profiles", json={**PROFILE, "name": "B"}).json()["data"]["id"]
    http.get(f"/v3/profiles/{a}", headers={"x-profile-id": a})
    http.get(f"/v3/profiles/{a}", headers={"x-profile-id": a})
    http.get(f"/v3/profiles/{a}/campaigns")
    http.delete(f"/v3/profiles/{a}", headers={"x-profile-id": b})
    http.get("/v3/profiles")
    state = http.get("/_sandbox/state").json()
    by_id = {p["id"]: p for p in state["profiles"]}
    assert by_id[a]["x_profile_ids"] == [
        {"operation": "create_profile", "x_profile_id": None, "count": 1},
        {"operation": "get_profile", "x_profile_id": a, "count": 2},
        {"operation": "list_campaigns", "x_profile_id": None, "count": 1},
        {"operation": "delete_profile", "x_profile_id": b, "count": 1},
    ]
    assert by_id[b]["x_profile_ids"] == [
        {"operation": "create_profile", "x_profile_id": None, "count": 1}
    ]
    assert by_id[a]["deleted"] is False  # the mismatched delete was refused
    assert {"operation": "list_profiles", "profile_id": None, "x_profile_id": None, "count": 1} in (
        state["x_profile_ids"]
    )


def _refused_then_fixed(client: httpx.Client) -> tuple[httpx.Response, httpx.Response]:
    """A create refused 422 (no WhatsApp account), the organization fixed, the same key again."""
    client.put("/_sandbox/organization", json={"has_whatsapp_account": False})
    headers = {"Idempotency-Key": "onb-create-0"}
    refused = client.post("/v3/profiles", json=PROFILE, headers=headers)
    client.put("/_sandbox/organization", json={"has_whatsapp_account": True})
    again = client.post("/v3/profiles", json=PROFILE, headers=headers)
    return refused, again


def test_refusals_are_cached_per_key_by_default() -> None:
    """cache_client_errors (the default): the same key answers the same 422 after the fix."""
    box = Sandbox()
    assert box.cache_client_errors is True
    for client in _served(box):
        refused, again = _refused_then_fixed(client)
        assert refused.status_code == 422
        assert (again.status_code, again.json()) == (422, refused.json())
        assert client.get("/v3/profiles").json()["data"]["profiles"] == []
        state: dict[str, Any] = client.get("/_sandbox/state").json()
        assert state["mutations"]["create_profile replayed"] == 1
        assert state["cache_client_errors"] is True


def test_refusals_are_not_cached_when_turned_off() -> None:
    """cache_client_errors=False: after the fix the same key is executed and creates."""
    for client in _served(Sandbox(cache_client_errors=False)):
        refused, again = _refused_then_fixed(client)
        assert (refused.status_code, again.status_code) == (422, 201)
        assert len(client.get("/v3/profiles").json()["data"]["profiles"]) == 1
        replay = client.post(
            "/v3/profiles", json=PROFILE, headers={"Idempotency-Key": "onb-create-0"}
        )
        assert replay.json() == again.json()  # successes are still replayed
