"""Reading every page of ``GET /v3/profiles``, whichever way the API pages it.

The seed-era API answers one unpaginated list; later versions add ``data.pagination``
(``page``, ``page_size``, ``has_more``, ``cursors.after``), so the next page is asked for (by
cursor when one is given, else by page number) until ``has_more`` is false.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from workflow.adapters.sent_replies import parse_data, request_id_of
from workflow.core.errors import UnexpectedResponseError
from workflow.ports.sent_models import ProfileDetail

__all__ = ["MAX_PAGES", "read_profile_pages"]

#: A list that keeps saying ``has_more`` past this many pages is a broken reply, not data.
MAX_PAGES = 1000


def read_profile_pages(
    fetch: Callable[[dict[str, Any]], dict[str, Any] | None],
) -> list[ProfileDetail]:
    """Every profile the pages list, each once, in the order first seen.

    Args:
        fetch: answers one page's decoded reply for its query parameters (empty: the first).

    Raises:
        UnexpectedResponseError: a reply without the list, one that asks for a page already
            read, or one that keeps answering ``has_more`` past :data:`MAX_PAGES` pages.
    """
    profiles: dict[str, ProfileDetail] = {}
    params: dict[str, Any] = {}
    asked: list[dict[str, Any]] = [params]
    for _ in range(MAX_PAGES):
        payload = fetch(params)
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
