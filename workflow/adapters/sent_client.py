"""``HttpxSentApi``: the typed, synchronous Sent v3 client the engine calls.

Authentication is the ``x-api-key`` header. The base URL and key come from the arguments or from
``SENT_BASE_URL`` / ``SENT_DM_API_KEY`` (the names Sent's SDK uses). Every mutating call takes
an ``Idempotency-Key`` (delete excepted: the API takes none there).

Errors become :class:`~workflow.core.errors.SentApiError` with HTTP status, ``error.code``,
``message``, ``details``, ``meta.request_id``, ``Retry-After`` and ``retryable`` decided here,
once. The client never loops on retries: the engine owns them, so they survive restarts.

Every call has a total deadline (``deadline``, default ``ONBOARDING_SENT_DEADLINE`` or 60 s)
besides httpx's per-operation timeouts: past it the call fails as a timeout
(:mod:`workflow.adapters.sent_transport`). A reply is read up to a size limit, and what it says is
cleaned and bounded before anyone keeps it (:mod:`workflow.adapters.sent_replies`).
"""

from __future__ import annotations

import functools
import math
import os
import urllib.request
from collections.abc import Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from workflow.adapters.sent_replies import (
    decode,
    parse_data,
    parse_retry_after,
    read_reply,
    request_id_of,
    status_error,
)
from workflow.adapters.sent_transport import DeadlineTransport, deadline, time_left
from workflow.core.bounds import MAX_REQUEST_ID, optional
from workflow.core.errors import SentTransportError, UnexpectedResponseError
from workflow.ports.sent_models import Campaign, CompleteResult, ProfileDetail, SentResponse

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_DEADLINE", "HttpxSentApi", "parse_retry_after"]

DEFAULT_BASE_URL = "https://api.sent.dm"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
#: Seconds one call may take in all, from connecting to the reply's last byte.
DEFAULT_DEADLINE = 60.0
DEADLINE_ENV = "ONBOARDING_SENT_DEADLINE"
#: A list that keeps saying ``has_more`` past this many pages is a broken reply, not data.
MAX_PAGES = 1000
M = TypeVar("M", bound=BaseModel)


class HttpxSentApi:
    """Sent v3 profiles and campaigns over httpx. Thread-safe (one pooled ``httpx.Client``).

    Args:
        base_url: defaults to ``SENT_BASE_URL``, then ``https://api.sent.dm``.
        api_key: defaults to ``SENT_DM_API_KEY``; required.
        timeout: per-operation timeout (SDK default: 60 s, 5 s to connect).
        deadline: seconds one call may take in all, whatever each operation does (default
            ``ONBOARDING_SENT_DEADLINE``, else 60); past it the call fails as a timeout.
        transport: an httpx transport (``httpx.MockTransport`` in tests). Without one, every
            socket operation is bounded by the deadline (:mod:`workflow.adapters.sent_transport`);
            through a proxy named in the environment, or another transport, the deadline is
            checked between the reply's chunks.
        scope_child_profiles: send ``x-profile-id`` with every call that acts on one profile
            (the organization key acting on its child profile, as the API takes it); turn off
            for a profile's own API key, which may not send it.

    Raises:
        ValueError: when no API key is given or found in the environment, or the deadline is
            not a positive number of seconds.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        deadline: float | None = None,
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
        self.deadline = _deadline(deadline)
        self.base_url = (base_url or os.environ.get("SENT_BASE_URL") or DEFAULT_BASE_URL).rstrip(
            "/"
        )
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=20)
        if transport is None and not _environment_proxies():
            transport = DeadlineTransport(limits, secure=not self.base_url.startswith("http:"))
        timeouts = httpx.Timeout(timeout)
        # Waiting for a pooled connection is no socket operation: bound it by the deadline too.
        pool = min(timeouts.pool if timeouts.pool is not None else math.inf, self.deadline)
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"x-api-key": key, "accept": "application/json"},
            timeout=httpx.Timeout(
                connect=timeouts.connect, read=timeouts.read, write=timeouts.write, pool=pool
            ),
            transport=transport,
            limits=limits,
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
        request = self._client.build_request(
            method,
            path,
            json=dict(body) if body is not None else None,
            headers=headers,
            params=dict(params) if params else None,
        )
        with deadline(self.deadline):
            try:
                response = self._client.send(request, stream=True)
                try:
                    content = read_reply(response, method, path)
                finally:
                    response.close()
            except httpx.TimeoutException as exc:
                left = time_left()
                if left is not None and left <= 0:
                    raise SentTransportError(
                        f"{method} {path} got no complete reply within its total deadline of "
                        f"{self.deadline:g}s"
                    ) from exc
                raise SentTransportError(
                    f"{method} {path} timed out: {type(exc).__name__}"
                ) from exc
            except httpx.TransportError as exc:
                raise SentTransportError(f"{method} {path} failed to connect: {exc}") from exc
        payload: dict[str, Any] | None = None
        if content:
            try:
                decoded = decode(content)
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
        raise status_error(method, path, response, payload)

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
                request_id=request_id_of(payload),
            )
        parsed: SentResponse[M] = _response_type(model)(
            data=parse_data(model, data, method, path, response.status_code, payload),
            status=response.status_code,
            request_id=request_id_of(payload),
            replayed=response.headers.get("idempotent-replayed", "").lower() == "true",
            original_request_id=optional(
                response.headers.get("x-original-request-id"), MAX_REQUEST_ID
            )
            or None,
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
                    request_id=request_id_of(payload),
                )
            listed = data.get("profiles") or []
            if not isinstance(listed, list):
                raise UnexpectedResponseError(
                    "GET /v3/profiles answered a non-list 'profiles'", status=200
                )
            for item in listed:
                profile = parse_data(ProfileDetail, item, "GET", "/v3/profiles", 200, payload)
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
                    request_id=request_id_of(payload),
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
                request_id=request_id_of(payload),
            )
        return [parse_data(Campaign, c, "GET", path, 200, payload) for c in data]

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


def _deadline(value: float | None) -> float:
    if value is None:
        text = os.environ.get(DEADLINE_ENV)
        if not text:
            return DEFAULT_DEADLINE
        try:
            value = float(text)
        except ValueError:
            value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(
            f"the Sent call deadline ({DEADLINE_ENV}) must be a positive number of seconds, "
            f"got {value!r}"
        )
    return value


def _environment_proxies() -> bool:
    """Whether the environment names an HTTP proxy (httpx then routes through it itself)."""
    return any(k in ("http", "https", "all") for k in urllib.request.getproxies())
