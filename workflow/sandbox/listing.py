"""``GET /v3/profiles`` as one list (the seed era) or in pages with ``data.pagination``.

Later API versions add ``data.pagination`` = ``{page, page_size, has_more, total_count,
total_pages, cursors: {after, before}}``. The sandbox pages by number (``?page=`` from 1,
``?page_size=`` up to :data:`MAX_PAGE_SIZE`) and leaves the cursors null, so a client must
follow page numbers when no cursor is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from workflow.sandbox.envelope import Reply, error_reply, ok_reply

__all__ = ["MAX_PAGE_SIZE", "list_reply"]

MAX_PAGE_SIZE = 100


def _number(query: Mapping[str, str], name: str, default: int, ceiling: int | None) -> int | str:
    """The query parameter as a whole number within bounds, or what is wrong with it."""
    raw = query.get(name)
    if raw is None:
        return default
    upper = f" and at most {ceiling}" if ceiling is not None else ""
    rule = f"{name} must be a whole number of at least 1{upper}"
    try:
        value = int(raw)
    except ValueError:
        return rule
    if value < 1 or (ceiling is not None and value > ceiling):
        return rule
    return value


def list_reply(
    profiles: Sequence[dict[str, Any]],
    query: Mapping[str, str],
    page_size: int | None,
    rid: str,
    now: datetime,
) -> Reply:
    """The list answer: every profile when ``page_size`` is ``None``, else the page asked for.

    Args:
        profiles: the visible profiles, oldest first.
        query: the request's query parameters (``page``, ``page_size``).
        page_size: the organization's default page size; ``None`` answers unpaginated and
            ignores the query, as the seed-era API does.
        rid: the request id.
        now: the sandbox time.
    """
    if page_size is None:
        return ok_reply(200, {"profiles": list(profiles)}, rid, now)
    page = _number(query, "page", 1, None)
    size = _number(query, "page_size", page_size, MAX_PAGE_SIZE)
    if isinstance(page, str) or isinstance(size, str):
        details = {
            name: [problem]
            for name, problem in (("page", page), ("page_size", size))
            if isinstance(problem, str)
        }
        return error_reply(
            400, "VALIDATION_001", "Request validation failed", rid, now,
            details=details, catalog_doc=True,
        )  # fmt: skip
    start = (page - 1) * size
    total = len(profiles)
    pagination = {
        "page": page,
        "page_size": size,
        "has_more": start + size < total,
        "total_count": total,
        "total_pages": math.ceil(total / size),
        "cursors": {"after": None, "before": None},
    }
    return ok_reply(
        200, {"profiles": list(profiles[start : start + size]), "pagination": pagination}, rid, now
    )
