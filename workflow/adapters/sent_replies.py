"""Reading Sent's replies: the body within its size and deadline, JSON every database can
store, the documented data shapes, and errors with their retryability decided once.

What a reply says is cleaned and bounded here, before anyone keeps it (:mod:`workflow.core.bounds`
and :class:`~workflow.core.errors.SentApiError`): NUL characters and unpaired surrogates replaced,
request ids, codes, messages and details cut to their columns; an id too long for its column
makes the reply unexpected (:mod:`workflow.ports.sent_models`).
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from workflow.adapters.sent_transport import time_left
from workflow.core.bounds import MAX_REQUEST_ID, clean_json, optional
from workflow.core.clock import as_utc
from workflow.core.errors import SentApiError, SentStatusError, UnexpectedResponseError

__all__ = [
    "MAX_REPLY_BYTES",
    "decode",
    "parse_data",
    "parse_retry_after",
    "read_reply",
    "request_id_of",
    "status_error",
]

#: A reply longer than this is not one Sent sends: it is refused, not read on.
MAX_REPLY_BYTES = 16 * 1024 * 1024
#: JSON escapes that decode to what no database stores: NUL and (unpaired) surrogates.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89abAB][0-9a-fA-F]{2})")
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
    moment = as_utc(moment)
    reference = now if now is not None else time.time()
    return max(0.0, moment.timestamp() - reference)


def read_reply(response: httpx.Response, method: str, path: str) -> bytes:
    """The reply's body, at most :data:`MAX_REPLY_BYTES`, the deadline checked between chunks.

    Raises:
        httpx.ReadTimeout: the call's deadline passed while the body was arriving.
        UnexpectedResponseError: the body is longer than :data:`MAX_REPLY_BYTES`.
    """
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_REPLY_BYTES:
            raise UnexpectedResponseError(
                f"{method} {path} answered {response.status_code} with a body longer than "
                f"{MAX_REPLY_BYTES} bytes",
                status=response.status_code,
            )
        chunks.append(chunk)
        left = time_left()
        if left is not None and left <= 0:
            raise httpx.ReadTimeout("the call's total deadline has passed")
    return b"".join(chunks)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode(content: bytes) -> Any:
    """JSON that every database can store: no NaN or infinity, no NUL, no lone surrogate.

    The body must be UTF-8 (RFC 8259), decoded strictly: ``json.loads`` on bytes would let
    encoded surrogates through. A NUL or a lone surrogate can then only come from a ``\\u``
    escape, and only a body holding one is walked to replace them.

    Raises:
        ValueError: not UTF-8, not JSON, or nested past the recursion limit.
    """
    try:
        text = content.decode("utf-8-sig")
        decoded = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise ValueError("nested too deep") from None
    if _UNSTORABLE_ESCAPE.search(content):  # rare: the walk is skipped for ordinary replies
        decoded = clean_json(decoded)
    return decoded


def parse_data(
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
            request_id=request_id_of(payload),
        ) from None


def request_id_of(payload: Mapping[str, Any] | None) -> str | None:
    meta = (payload or {}).get("meta")
    rid = meta.get("request_id") if isinstance(meta, Mapping) else None
    return optional(rid, MAX_REQUEST_ID) or None


def status_error(
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
    message = error.get("message")
    return SentStatusError(
        message
        if isinstance(message, str) and message
        else response.reason_phrase or f"{method} {path} failed",
        status=status,
        code=error.get("code") if isinstance(error.get("code"), str) else None,
        details=details if isinstance(details, Mapping) else None,
        request_id=request_id_of(payload),
        retry_after=parse_retry_after(response.headers, now=datetime.now(UTC).timestamp()),
        retryable=retryable,
    )
