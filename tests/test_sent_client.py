"""HttpxSentApi: configuration, parsing, and the one place retryability is decided."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from workflow.adapters.sent_client import DEFAULT_BASE_URL, HttpxSentApi, parse_retry_after
from workflow.core.errors import (
    SentApiError,
    SentStatusError,
    SentTransportError,
    UnexpectedResponseError,
)


def _client(handler: Any, **kwargs: Any) -> HttpxSentApi:
    return HttpxSentApi("https://sent.test", "k", transport=httpx.MockTransport(handler), **kwargs)


def _error(status: int, code: str = "INTERNAL_001", headers: dict[str, str] | None = None) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {
            "success": False, "data": None,
            "error": {"code": code, "message": "boom", "details": {"name": ["Profile name is required"]}, "doc_url": "x"},
            "meta": {"request_id": "req_1", "timestamp": "t", "version": "v3"},
        }  # fmt: skip
        return httpx.Response(status, json=body, headers=headers or {})

    return handler


def test_key_and_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """SENT_DM_API_KEY and SENT_BASE_URL configure the client; no key at all is a clear error."""
    monkeypatch.delenv("SENT_DM_API_KEY", raising=False)
    monkeypatch.delenv("SENT_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="SENT_DM_API_KEY"):
        HttpxSentApi()
    monkeypatch.setenv("SENT_DM_API_KEY", "env-key")
    with HttpxSentApi() as client:
        assert client.base_url == DEFAULT_BASE_URL
    monkeypatch.setenv("SENT_BASE_URL", "https://api-dev.sent.dm/")
    with HttpxSentApi() as client:
        assert client.base_url == "https://api-dev.sent.dm"


def test_requests_carry_key_idempotency_and_json() -> None:
    """x-api-key on every call; Idempotency-Key on mutations; camelCase campaign wrapper."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        data = {"id": "c1", "useCases": [], "submittedToTCR": False}
        return httpx.Response(
            201, json={"success": True, "data": data, "meta": {"request_id": "req_9"}}
        )

    with _client(handler) as client:
        result = client.create_campaign("p 1", {"name": "n"}, idempotency_key="onb-campaigns-0-0")
    request = seen[0]
    assert request.url.raw_path == b"/v3/profiles/p%201/campaigns"
    assert request.headers["x-api-key"] == "k"
    assert request.headers["idempotency-key"] == "onb-campaigns-0-0"
    assert json.loads(request.content) == {"campaign": {"name": "n"}}
    assert (result.status, result.request_id, result.data.submitted_to_tcr) == (201, "req_9", False)


def test_profile_parsing_tolerates_unknown_fields_and_casing() -> None:
    """Unknown fields are kept, camelCase aliases are read, 200 on create is accepted."""

    def handler(request: httpx.Request) -> httpx.Response:
        data = {
            "id": "p1",
            "shortName": "SALES",
            "future_field": 1,
            "brand": {"compliance": {"isTcrApplication": True}},
        }
        return httpx.Response(200, json={"data": data})

    with _client(handler) as client:
        profile = client.create_profile({"name": "x"}, idempotency_key="k").data
    assert profile.short_name == "SALES"
    assert profile.brand is not None
    assert profile.brand.is_tcr_application
    assert profile.model_extra == {"future_field": 1}


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (403, False), (404, False), (422, False),
     (408, True), (409, True), (429, True), (500, True), (502, True), (503, True)],
)  # fmt: skip
def test_status_errors_carry_everything_and_decide_retryability(
    status: int, retryable: bool
) -> None:
    """Each error keeps status, code, message, details and request id; retryable per the table."""
    with _client(_error(status)) as client, pytest.raises(SentStatusError) as caught:
        client.get_profile("p1")
    error = caught.value
    assert (error.status, error.code, error.message, error.request_id) == (
        status,
        "INTERNAL_001",
        "boom",
        "req_1",
    )
    assert error.details == {"name": ["Profile name is required"]}
    assert error.retryable is retryable
    assert "req_1" in str(error)


def test_x_should_retry_overrides_the_status() -> None:
    """The server's x-should-retry header beats the status rule."""
    with (
        _client(_error(400, headers={"x-should-retry": "true"})) as client,
        pytest.raises(SentApiError) as caught,
    ):
        client.get_profile("p1")
    assert caught.value.retryable


def test_retry_after_is_read() -> None:
    """A 429's Retry-After reaches the error."""
    with (
        _client(_error(429, "RATE_LIMIT_001", {"retry-after": "3"})) as client,
        pytest.raises(SentApiError) as caught,
    ):
        client.list_profiles()
    assert caught.value.retry_after == 3.0


def test_retry_after_forms() -> None:
    """retry-after-ms, seconds and HTTP dates are all understood; nonsense is ignored."""
    now = datetime(2026, 5, 1, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({"retry-after": "2.5"}) == 2.5
    assert parse_retry_after({"retry-after": date}, now=now.timestamp()) == pytest.approx(30)
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


@pytest.mark.parametrize("failure", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
def test_transport_failures_are_retryable(failure: Exception) -> None:
    """Connection errors and timeouts become retryable SentTransportError, chained."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    with _client(handler) as client, pytest.raises(SentTransportError) as caught:
        client.complete("p1", "https://hook", idempotency_key="k")
    assert caught.value.retryable
    assert caught.value.status is None
    assert caught.value.__cause__ is failure


def test_success_without_data_is_an_error() -> None:
    """A 2xx without a data object is reported as unexpected, not parsed into nonsense."""
    with (
        _client(lambda r: httpx.Response(200, json={"success": True})) as client,
        pytest.raises(UnexpectedResponseError) as caught,
    ):
        client.get_profile("p1")
    assert caught.value.unexpected
    assert caught.value.retryable
    assert caught.value.status == 200


def test_empty_path_ids_are_refused() -> None:
    """An empty profile id never turns into a request for the collection."""
    with _client(_error(500)) as client, pytest.raises(ValueError, match="empty"):
        client.get_profile("")


def test_full_round_trip_against_the_sandbox(api: HttpxSentApi) -> None:
    """Every client call works against the sandbox over real HTTP."""
    body = {"name": "Ops", "short_name": "Ops", "description": "d", "billing_model": "organization",
            "inherit_tcr_campaign": False}  # fmt: skip
    created = api.create_profile(body, idempotency_key="rt-create")
    pid = created.data.id
    assert created.status == 201
    assert api.get_profile(pid).data.name == "Ops"
    assert [p.id for p in api.list_profiles()] == [pid]
    assert api.update_profile(
        pid, {"sending_phone_number": "+12025550100"}, idempotency_key="rt-u"
    ).data.sending_phone_number
    campaign = {"name": "n", "description": "d", "type": "App",
                "useCases": [{"messagingUseCaseUs": "MARKETING", "sampleMessages": ["Hi"]}]}  # fmt: skip
    cid = api.create_campaign(pid, campaign, idempotency_key="rt-c").data.id
    assert (
        api.update_campaign(pid, cid, {**campaign, "name": "m"}, idempotency_key="rt-c2").data.name
        == "m"
    )
    assert [c.id for c in api.list_campaigns(pid)] == [cid]
    api.delete_campaign(pid, cid)
    api.create_campaign(pid, campaign, idempotency_key="rt-c3")
    accepted = api.complete(pid, "http://127.0.0.1:9/hook", idempotency_key="rt-complete")
    assert (accepted.status, accepted.data.message) == (202, "Profile completion in progress")
    api.delete_profile(pid)
    with pytest.raises(SentStatusError) as caught:
        api.get_profile(pid)
    assert (caught.value.status, caught.value.code) == (404, "RESOURCE_014")
