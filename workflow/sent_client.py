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
import functools
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from workflow.errors import (
    SentApiError,
    SentStatusError,
    SentTransportError,
    UnexpectedResponseError,
)
from workflow.sent_models import Campaign, CompleteResult, ProfileDetail, SentResponse

__all__ = ["DEFAULT_BASE_URL", "HttpxSentApi", "parse_retry_after"]

DEFAULT_BASE_URL = "https://api.sent.dm"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
#: A list that keeps saying ``has_more`` past this many pages is a broken reply, not data.
MAX_PAGES = 1000
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
        scope_child_profiles: send ``x-profile-id`` with every call that acts on one profile
            (the organization key acting on its child profile, as the API takes it); turn off
            for a profile's own API key, which may not send it.

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
        scope_child_profiles: bool = True,
    ) -> None:
        self.scope_child_profiles = scope_child_profiles
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
        params: Mapping[str, Any] | None = None,
    ) -> tuple[httpx.Response, dict[str, Any] | None]:
        headers: dict[str, str] = {}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if profile_scope is not None and self.scope_child_profiles:
            headers["x-profile-id"] = profile_scope
        try:
            response = self._client.request(
                method,
                path,
                json=dict(body) if body is not None else None,
                headers=headers,
                params=dict(params) if params else None,
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
                if response.is_success:
                    raise UnexpectedResponseError(
                        f"{method} {path} answered {response.status_code} with a body that is "
                        "not JSON",
                        status=response.status_code,
                    ) from None
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
            raise UnexpectedResponseError(
                f"{method} {path} answered {response.status_code} without a data object",
                status=response.status_code,
                request_id=_rid(payload),
            )
        parsed: SentResponse[M] = _response_type(model)(
            data=_parse(model, data, method, path, response.status_code, payload),
            status=response.status_code,
            request_id=_rid(payload),
        )
        return parsed

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
        return self._call(
            ProfileDetail, "GET", f"/v3/profiles/{_segment(profile_id)}", profile_scope=profile_id
        )

    def list_profiles(self) -> list[ProfileDetail]:
        """``GET /v3/profiles``: every profile of the organization, following ``pagination``.

        The seed-era API answers one unpaginated list; later versions add
        ``data.pagination`` (``page``, ``page_size``, ``has_more``, ``cursors.after``), so the
        next page is asked for (by cursor when one is given, else by page number) until
        ``has_more`` is false. A profile seen on an earlier page is not listed twice: with
        page numbers, a profile created meanwhile pushes the others one place down, and a
        duplicate would make a reconciliation see two candidates where there is one.

        Raises:
            UnexpectedResponseError: a reply without the list, or one that asks for a page
                already read (a server ignoring the query would otherwise be read 1000 times).
        """
        profiles: dict[str, ProfileDetail] = {}
        params: dict[str, Any] = {}
        asked: list[dict[str, Any]] = [params]
        for _ in range(MAX_PAGES):
            _, payload = self._request("GET", "/v3/profiles", params=params)
            data = (payload or {}).get("data")
            if not isinstance(data, dict):
                raise UnexpectedResponseError(
                    "GET /v3/profiles answered without a data object",
                    status=200,
                    request_id=_rid(payload),
                )
            listed = data.get("profiles") or []
            if not isinstance(listed, list):
                raise UnexpectedResponseError(
                    "GET /v3/profiles answered a non-list 'profiles'", status=200
                )
            for item in listed:
                profile = _parse(ProfileDetail, item, "GET", "/v3/profiles", 200, payload)
                profiles.setdefault(profile.id, profile)
            following = _next_page(data.get("pagination"), params)
            if following is None:
                return list(profiles.values())
            if following in asked:
                where = (
                    f"cursor {following['after']!r}"
                    if "after" in following
                    else f"page {following['page']}"
                )
                raise UnexpectedResponseError(
                    f"GET /v3/profiles answered has_more but points to {where} again",
                    status=200,
                    request_id=_rid(payload),
                )
            asked.append(following)
            params = following
        raise UnexpectedResponseError(
            f"GET /v3/profiles kept answering has_more after {MAX_PAGES} pages", status=200
        )

    def update_profile(
        self, profile_id: str, body: Mapping[str, Any], *, idempotency_key: str
    ) -> SentResponse[ProfileDetail]:
        """``PATCH /v3/profiles/{id}``: only the fields sent change."""
        return self._call(
            ProfileDetail, "PATCH", f"/v3/profiles/{_segment(profile_id)}", body=body,
            idempotency_key=idempotency_key, profile_scope=profile_id,
        )  # fmt: skip

    def delete_profile(self, profile_id: str) -> None:
        """``DELETE /v3/profiles/{id}`` (a soft delete at Sent)."""
        self._request(
            "DELETE", f"/v3/profiles/{_segment(profile_id)}", body={}, profile_scope=profile_id
        )

    def complete(
        self, profile_id: str, web_hook_url: str, *, idempotency_key: str
    ) -> SentResponse[CompleteResult]:
        """``POST /v3/profiles/{id}/complete``: 202 accepted, 200 already done."""
        return self._call(
            CompleteResult, "POST", f"/v3/profiles/{_segment(profile_id)}/complete",
            body={"webHookUrl": web_hook_url}, idempotency_key=idempotency_key,
            profile_scope=profile_id,
        )  # fmt: skip

    # -------------------------------------------------------------- campaigns
    def list_campaigns(self, profile_id: str) -> list[Campaign]:
        """``GET /v3/profiles/{id}/campaigns``: own ones, and inherited ones when inheriting."""
        path = f"/v3/profiles/{_segment(profile_id)}/campaigns"
        _, payload = self._request("GET", path, profile_scope=profile_id)
        data = (payload or {}).get("data")
        if isinstance(data, dict):  # a later API version may wrap the list
            data = data.get("campaigns")
        if not isinstance(data, list):
            raise UnexpectedResponseError(
                f"GET {path} answered without a list of campaigns",
                status=200,
                request_id=_rid(payload),
            )
        return [_parse(Campaign, c, "GET", path, 200, payload) for c in data]

    def create_campaign(
        self, profile_id: str, campaign: Mapping[str, Any], *, idempotency_key: str
    ) -> SentResponse[Campaign]:
        """``POST /v3/profiles/{id}/campaigns`` with ``{"campaign": ...}``."""
        return self._call(
            Campaign, "POST", f"/v3/profiles/{_segment(profile_id)}/campaigns",
            body={"campaign": dict(campaign)}, idempotency_key=idempotency_key,
            profile_scope=profile_id,
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
            profile_scope=profile_id,
        )  # fmt: skip

    def delete_campaign(self, profile_id: str, campaign_id: str) -> None:
        """``DELETE /v3/profiles/{id}/campaigns/{campaignId}``."""
        self._request(
            "DELETE",
            f"/v3/profiles/{_segment(profile_id)}/campaigns/{_segment(campaign_id)}",
            body={},
            profile_scope=profile_id,
        )


@functools.cache
def _response_type(model: type[M]) -> Any:
    """``SentResponse[model]``, built once per model (pydantic builds a class each time)."""
    return SentResponse[model]  # type: ignore[valid-type]


def _parse(
    model: type[M],
    data: object,
    method: str,
    path: str,
    status: int,
    payload: Mapping[str, Any] | None,
) -> M:
    """The reply's data as ``model``; a shape the API does not document is unexpected."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'data'}: {error['msg']}"
            for error in exc.errors(include_input=False)[:5]
        )
        raise UnexpectedResponseError(
            f"{method} {path} answered {status} with data that is not a {model.__name__}: "
            f"{problems}",
            status=status,
            request_id=_rid(payload),
        ) from None


def _next_page(pagination: object, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The query of the next page, or ``None`` when this was the last (or only) one."""
    if not isinstance(pagination, Mapping) or pagination.get("has_more") is not True:
        return None
    cursors = pagination.get("cursors")
    after = cursors.get("after") if isinstance(cursors, Mapping) else None
    if isinstance(after, str) and after:
        return {"after": after}
    page = pagination.get("page")
    current = page if isinstance(page, int) else int(params.get("page", 1))
    following: dict[str, Any] = {"page": current + 1}
    if isinstance(pagination.get("page_size"), int):
        following["page_size"] = pagination["page_size"]
    return following


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
