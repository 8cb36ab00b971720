"""``HttpxSentApi``: the typed, synchronous Sent v3 client the engine calls.

Authentication is the ``x-api-key`` header. The base URL and key come from the arguments or from
``SENT_BASE_URL`` / ``SENT_DM_API_KEY`` (the names Sent's SDK uses). Every mutating call takes
an ``Idempotency-Key`` (delete excepted: the API takes none there).

Errors become :class:`~workflow.errors.SentApiError` with HTTP status, ``error.code``,
``message``, ``details``, ``meta.request_id``, ``Retry-After`` and ``retryable`` decided here,
once. The client never loops on retries: the engine owns them, so they survive restarts.
"""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from workflow.errors import SentApiError, SentStatusError, SentTransportError
from workflow.sent_models import Campaign, CompleteResult, ProfileDetail, SentResponse

__all__ = ["DEFAULT_BASE_URL", "HttpxSentApi", "parse_retry_after"]

DEFAULT_BASE_URL = "https://api.sent.dm"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
M = TypeVar("M", bound=BaseModel)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``retry-after`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    reference = now if now is not None else time.time()
    return max(0.0, moment.timestamp() - reference)


class HttpxSentApi:
    """Sent v3 profiles and campaigns over httpx. Thread-safe (one pooled ``httpx.Client``).

    Args:
        base_url: defaults to ``SENT_BASE_URL``, then ``https://api.sent.dm``.
        api_key: defaults to ``SENT_DM_API_KEY``; required.
        timeout: per-request timeout (SDK default: 60 s, 5 s to connect).
        transport: an httpx transport (``httpx.MockTransport`` in tests).

    Raises:
        ValueError: when no API key is given or found in the environment.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 100,
    ) -> None:
        key = api_key or os.environ.get("SENT_DM_API_KEY")
        if not key:
            raise ValueError(
                "no Sent API key: pass api_key= or set SENT_DM_API_KEY (use the sandbox to run "
                "without one)"
            )
        self.base_url = (base_url or os.environ.get("SENT_BASE_URL") or DEFAULT_BASE_URL).rstrip(
            "/"
        )
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"x-api-key": key, "accept": "application/json"},
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=20),
            follow_redirects=True,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> HttpxSentApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- plumbing
    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        profile_scope: str | None = None,
    ) -> tuple[httpx.Response, dict[str, Any] | None]:
        headers: dict[str, str] = {}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if profile_scope is not None:
            headers["x-profile-id"] = profile_scope
        try:
            response = self._client.request(
                method, path, json=dict(body) if body is not None else None, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise SentTransportError(f"{method} {path} timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise SentTransportError(f"{method} {path} failed to connect: {exc}") from exc
        payload: dict[str, Any] | None = None
        if response.content:
            try:
                decoded = response.json()
                payload = decoded if isinstance(decoded, dict) else {"data": decoded}
            except ValueError:
                payload = None
        if response.is_success:
            return response, payload
        raise _status_error(method, path, response, payload)

    def _call(
        self,
        model: type[M],
        method: str,
        path: str,
        **kwargs: Any,
    ) -> SentResponse[M]:
        response, payload = self._request(method, path, **kwargs)
        data = (payload or {}).get("data")
        if not isinstance(data, dict):
            raise SentStatusError(
                f"{method} {path} answered {response.status_code} without a data object",
                status=response.status_code,
                retryable=False,
            )
        return SentResponse[model](  # type: ignore[valid-type]
            data=model.model_validate(data), status=response.status_code, request_id=_rid(payload)
        )

    # --------------------------------------------------------------- profiles
    def create_profile(
        self, body: Mapping[str, Any], *, idempotency_key: str
    ) -> SentResponse[ProfileDetail]:
        """``POST /v3/profiles``: a 200 and a 201 both mean created."""
        return self._call(
            ProfileDetail, "POST", "/v3/profiles", body=body, idempotency_key=idempotency_key
        )

    def get_profile(self, profile_id: str) -> SentResponse[ProfileDetail]:
        """``GET /v3/profiles/{id}``."""
        return self._call(ProfileDetail, "GET", f"/v3/profiles/{_segment(profile_id)}")

    def list_profiles(self) -> list[ProfileDetail]:
        """``GET /v3/profiles``: every profile of the organization."""
        _, payload = self._request("GET", "/v3/profiles")
        data = (payload or {}).get("data") or {}
        return [ProfileDetail.model_validate(p) for p in data.get("profiles") or []]

    def update_profile(
        self, profile_id: str, body: Mapping[str, Any], *, idempotency_key: str
    ) -> SentResponse[ProfileDetail]:
        """``PATCH /v3/profiles/{id}``: only the fields sent change."""
        return self._call(
            ProfileDetail, "PATCH", f"/v3/profiles/{_segment(profile_id)}", body=body,
            idempotency_key=idempotency_key,
        )  # fmt: skip

    def delete_profile(self, profile_id: str) -> None:
        """``DELETE /v3/profiles/{id}`` (a soft delete at Sent)."""
        self._request("DELETE", f"/v3/profiles/{_segment(profile_id)}", body={})

    def complete(
        self, profile_id: str, web_hook_url: str, *, idempotency_key: str
    ) -> SentResponse[CompleteResult]:
        """``POST /v3/profiles/{id}/complete``: 202 accepted, 200 already done."""
        return self._call(
            CompleteResult, "POST", f"/v3/profiles/{_segment(profile_id)}/complete",
            body={"webHookUrl": web_hook_url}, idempotency_key=idempotency_key,
        )  # fmt: skip

    # -------------------------------------------------------------- campaigns
    def list_campaigns(self, profile_id: str) -> list[Campaign]:
        """``GET /v3/profiles/{id}/campaigns``: own ones, and inherited ones when inheriting."""
        _, payload = self._request("GET", f"/v3/profiles/{_segment(profile_id)}/campaigns")
        data = (payload or {}).get("data") or []
        return [Campaign.model_validate(c) for c in data if isinstance(c, dict)]

    def create_campaign(
        self, profile_id: str, campaign: Mapping[str, Any], *, idempotency_key: str
    ) -> SentResponse[Campaign]:
        """``POST /v3/profiles/{id}/campaigns`` with ``{"campaign": ...}``."""
        return self._call(
            Campaign, "POST", f"/v3/profiles/{_segment(profile_id)}/campaigns",
            body={"campaign": dict(campaign)}, idempotency_key=idempotency_key,
        )  # fmt: skip

    def update_campaign(
        self,
        profile_id: str,
        campaign_id: str,
        campaign: Mapping[str, Any],
        *,
        idempotency_key: str,
    ) -> SentResponse[Campaign]:
        """``PUT /v3/profiles/{id}/campaigns/{campaignId}``: a full replace."""
        return self._call(
            Campaign, "PUT",
            f"/v3/profiles/{_segment(profile_id)}/campaigns/{_segment(campaign_id)}",
            body={"campaign": dict(campaign)}, idempotency_key=idempotency_key,
        )  # fmt: skip

    def delete_campaign(self, profile_id: str, campaign_id: str) -> None:
        """``DELETE /v3/profiles/{id}/campaigns/{campaignId}``."""
        self._request(
            "DELETE",
            f"/v3/profiles/{_segment(profile_id)}/campaigns/{_segment(campaign_id)}",
            body={},
        )


def _segment(value: str) -> str:
    if not value:
        raise ValueError("an id in the path must not be empty")
    from urllib.parse import quote

    return quote(value, safe="")


def _rid(payload: Mapping[str, Any] | None) -> str | None:
    meta = (payload or {}).get("meta")
    rid = meta.get("request_id") if isinstance(meta, Mapping) else None
    return rid if isinstance(rid, str) else None


def _status_error(
    method: str, path: str, response: httpx.Response, payload: Mapping[str, Any] | None
) -> SentApiError:
    error = (payload or {}).get("error")
    error = error if isinstance(error, Mapping) else {}
    status = response.status_code
    retryable = SentStatusError.is_retryable_status(status)
    override = response.headers.get("x-should-retry")
    if override in ("true", "false"):
        retryable = override == "true"
    details = error.get("details")
    return SentStatusError(
        str(error.get("message") or response.reason_phrase or f"{method} {path} failed"),
        status=status,
        code=error.get("code") if isinstance(error.get("code"), str) else None,
        details=details if isinstance(details, Mapping) else None,
        request_id=_rid(payload),
        retry_after=parse_retry_after(response.headers, now=datetime.now(UTC).timestamp()),
        retryable=retryable,
    )
