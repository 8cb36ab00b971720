"""The v3 response envelope and the sandbox's error answers, in the API's words."""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Reply", "error_reply", "ok_reply", "request_id", "timestamp"]

ERRORS_DOC = "https://docs.sent.dm/errors/{code}"
CATALOG_DOC = "https://docs.sent.dm/docs/reference/api/error-catalog"
_ALPHABET = string.ascii_letters + string.digits


def request_id() -> str:
    """A fresh ``meta.request_id`` in Sent's style (``req_`` and ten characters)."""
    return "req_" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def timestamp(moment: datetime) -> str:
    """An ISO-8601 timestamp with offset, as the API writes them."""
    return moment.isoformat()


@dataclass
class Reply:
    """One HTTP answer of the sandbox: status, JSON body (``None`` for no content), headers."""

    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)


def _meta(rid: str, now: datetime) -> dict[str, Any]:
    return {"request_id": rid, "timestamp": timestamp(now), "version": "v3"}


def ok_reply(status: int, data: Any, rid: str, now: datetime) -> Reply:
    """A success envelope."""
    return Reply(status, {"success": True, "data": data, "error": None, "meta": _meta(rid, now)})


def error_reply(
    status: int,
    code: str,
    message: str,
    rid: str,
    now: datetime,
    *,
    details: Mapping[str, Sequence[str]] | None = None,
    catalog_doc: bool = False,
    headers: dict[str, str] | None = None,
) -> Reply:
    """An error envelope: ``error.code``, ``message``, ``details`` by field path, ``doc_url``."""
    body = {
        "success": False,
        "data": None,
        "error": {
            "code": code,
            "message": message,
            "details": {k: list(v) for k, v in details.items()} if details else None,
            "doc_url": CATALOG_DOC if catalog_doc else ERRORS_DOC.format(code=code),
        },
        "meta": _meta(rid, now),
    }
    return Reply(status, body, headers or {})
