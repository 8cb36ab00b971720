"""The completion-callback receiver: a small ASGI app, mountable in any Starlette/FastAPI service.

``POST /callbacks/{onboarding_id}?token=...`` from Sent is checked (per-onboarding token, and
the Standard Webhooks signature when a signing secret is configured), recorded, and turned into
a nudge: the onboarding re-reads its profile now. The body is never trusted for state.

Nothing is trusted before it is bounded: the id's shape and the token (both in the URL) are
checked before a byte of the body is read, the body is read as a stream and refused past
``max_body_bytes``, and every field that reaches the database is checked against its column.
Forged (bad token or signature), replayed (a ``webhook-id`` seen before), unknown-onboarding,
oversized and malformed callbacks get a 4xx and change nothing; only a database failure gives
a 5xx (so Sent retries). A callback without a ``webhook-id`` wakes its onboarding and replaces
the previous one of that onboarding in the store: a flood of them keeps one row per onboarding.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError
from standardwebhooks.webhooks import EmptyWebhookSecretError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from workflow.core.clock import Clock, SystemClock
from workflow.ports import CallbackStore, Vault

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "TIMESTAMP_TOLERANCE",
    "ClockedWebhook",
    "check_signing_secret",
    "create_callback_app",
]

log = logging.getLogger("workflow.webhook")

DEFAULT_MAX_BODY_BYTES = 65536
#: ``uuid4().hex``, as the engine makes them.
ONBOARDING_ID = re.compile(r"[0-9a-f]{32}")
#: The widths of ``callback_events.webhook_id`` and ``.status``.
MAX_WEBHOOK_ID = 128
MAX_STATUS = 32
#: Sent's callbacks are one level deep; a few levels of slack, far below the recursion limit.
MAX_DEPTH = 16
#: How far a ``webhook-timestamp`` may be from now: standardwebhooks 1.x hard-codes
#: ``timedelta(minutes=5)`` inside ``Webhook.__verify_timestamp`` and exports no constant, so it
#: is repeated here; tests/test_webhook.py checks it against the library's own verify().
TIMESTAMP_TOLERANCE = timedelta(minutes=5)


_SECRET = re.compile(r"(whsec_)?[A-Za-z0-9+/]+={0,2}")
SECRET_RULE = "signing_secret must be 'whsec_' followed by a non-empty base64 key"


def check_signing_secret(secret: str) -> None:
    """Refuse a Standard Webhooks secret the library would misread.

    ``standardwebhooks`` skips characters that are not base64, so a mistyped secret would
    quietly become another key and every callback would fail its signature check.

    Raises:
        ValueError: ``secret`` is not base64 (after an optional ``whsec_``) or decodes to nothing.
    """
    if not _SECRET.fullmatch(secret):
        raise ValueError(SECRET_RULE)
    try:
        Webhook(secret)
    except (ValueError, EmptyWebhookSecretError) as exc:  # ValueError: binascii.Error
        raise ValueError(SECRET_RULE) from exc


class ClockedWebhook(Webhook):
    """``standardwebhooks.Webhook`` whose timestamp check reads an injected clock.

    The library's ``verify()`` does everything else (secret decoding, the signed content, several
    space-separated signatures, constant-time comparison); only its private
    ``__verify_timestamp``, which calls ``datetime.now()``, is replaced. Re-implementing
    ``verify()`` around the public ``sign()`` would copy the signature-list parsing instead;
    overriding the one clock read keeps the verification the library's. The override depends
    on a private name, so construction refuses a library version without it (fail loudly, not
    verify against the wall clock by accident) and the dependency range is kept to 1.x.
    """

    def __init__(self, secret: str, clock: Clock) -> None:
        if not callable(getattr(Webhook, "_Webhook__verify_timestamp", None)):
            raise RuntimeError(
                "standardwebhooks no longer has Webhook.__verify_timestamp; "
                "ClockedWebhook must be adapted to this version"
            )
        check_signing_secret(secret)
        super().__init__(secret)
        self._clock = clock

    def _Webhook__verify_timestamp(self, timestamp_header: str) -> datetime:
        """The header's time, if within ``TIMESTAMP_TOLERANCE`` of the injected clock's now."""
        try:
            stamp = datetime.fromtimestamp(float(timestamp_header), tz=UTC)
        except (ValueError, OverflowError, OSError):
            raise WebhookVerificationError("Invalid Signature Headers") from None
        now = self._clock.now()
        if stamp < now - TIMESTAMP_TOLERANCE:
            raise WebhookVerificationError("Message timestamp too old")
        if stamp > now + TIMESTAMP_TOLERANCE:
            raise WebhookVerificationError("Message timestamp too new")
        return stamp


class _RefusedError(Exception):
    """A callback answered with a 4xx; ``reason`` goes to the caller and the log."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _quoted(text: str, limit: int = 64) -> str:
    # repr() escapes newlines and every other unprintable character, so a crafted id or header
    # cannot start a forged log line; the cut bounds the line.
    return repr(text[:limit])


def _refuse(status: int, reason: str, onboarding_id: str) -> JSONResponse:
    log.warning(
        "callback for %s refused (%s): %s", _quoted(onboarding_id), status, _quoted(reason, 200)
    )
    # A refusal may leave the body unread: closing the connection stops the upload at once,
    # where keep-alive would have uvicorn receive (and discard) all of it first.
    return JSONResponse(
        {"accepted": False, "reason": reason}, status_code=status, headers={"connection": "close"}
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """At most ``limit`` bytes of the body, read as it streams in.

    Raises:
        _RefusedError: 413 when the body is (or is announced to be) longer than ``limit``.
    """
    announced = request.headers.get("content-length")
    if announced is not None and announced.isdigit() and int(announced) > limit:
        raise _RefusedError(413, f"body larger than {limit} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise _RefusedError(413, f"body larger than {limit} bytes")
    except ClientDisconnect:
        raise _RefusedError(400, "client disconnected before the body was complete") from None
    return bytes(body)


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise _RefusedError(400, f"{where} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _RefusedError(400, f"{where} contains an unpaired surrogate") from None


def _parse_payload(text: str) -> dict[str, Any]:
    """The body as a JSON object that every database can store.

    Raises:
        _RefusedError: 400 naming the rule broken (not JSON, NaN/Infinity, not an object, nested
            deeper than ``MAX_DEPTH``, a NUL character or an unpaired surrogate in a string).
    """
    try:
        payload = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise _RefusedError(400, f"body is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise _RefusedError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise _RefusedError(400, "body must be a JSON object")
    pending: list[tuple[Any, int]] = [(payload, 1)]
    while pending:  # iterative: the depth is what is being checked
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise _RefusedError(400, f"body is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, "a body key")
                pending.append((item, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_text(value, "a body string")
    return payload


def _webhook_id(headers: dict[str, str]) -> str | None:
    value = headers.get("webhook-id")
    if value is None:
        return None
    if not 0 < len(value) <= MAX_WEBHOOK_ID or not value.isprintable():
        raise _RefusedError(400, f"webhook-id must be 1 to {MAX_WEBHOOK_ID} printable characters")
    return value


def _status(payload: dict[str, Any]) -> str | None:
    status = payload.get("status")
    if status is None:
        return None
    if not isinstance(status, str) or len(status) > MAX_STATUS:
        raise _RefusedError(400, f"status must be a string of at most {MAX_STATUS} characters")
    return status


def create_callback_app(
    store: CallbackStore,
    vault: Vault,
    *,
    signing_secret: str | None = None,
    clock: Clock | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Starlette:
    """The receiver app; mount it, or serve it (``onboarding worker --serve-callbacks``).

    Args:
        store: where callbacks are recorded; its calls run in a worker thread, so one slow
            database call does not hold up other callbacks.
        vault: derives and checks the per-onboarding token in the callback URL.
        signing_secret: a Standard Webhooks secret (``whsec_`` + base64); when set, every
            callback must carry a valid ``webhook-signature``.
        clock: the time signatures are checked against (the system clock by default).
        max_body_bytes: longer bodies get 413 without being read further.

    Raises:
        ValueError: ``signing_secret`` is not base64 after ``whsec_``, or ``max_body_bytes`` is
            not positive.
    """
    time_source = clock or SystemClock()
    if max_body_bytes <= 0:
        raise ValueError(f"max_body_bytes must be positive, got {max_body_bytes}")
    verifier = ClockedWebhook(signing_secret, time_source) if signing_secret is not None else None
    receiver = _Receiver(store, vault, verifier, time_source, max_body_bytes)
    return Starlette(
        routes=[Route("/callbacks/{onboarding_id}", receiver.receive, methods=["POST"])]
    )


class _Receiver:
    """What the receiver checks of one callback, in order, before recording it."""

    def __init__(
        self,
        store: CallbackStore,
        vault: Vault,
        verifier: ClockedWebhook | None,
        clock: Clock,
        max_body_bytes: int,
    ) -> None:
        self.store = store
        self.vault = vault
        self.verifier = verifier
        self.clock = clock
        self.max_body_bytes = max_body_bytes

    async def receive(self, request: Request) -> JSONResponse:
        onboarding_id = request.path_params["onboarding_id"]
        try:
            return await self._check(request, onboarding_id)
        except _RefusedError as refusal:
            return _refuse(refusal.status, refusal.reason, onboarding_id)

    async def _check(self, request: Request, onboarding_id: str) -> JSONResponse:
        token = request.query_params.get("token", "")
        if not ONBOARDING_ID.fullmatch(onboarding_id):
            raise _RefusedError(404, "unknown onboarding")
        if not self.vault.check_callback_token(onboarding_id, token):
            raise _RefusedError(403, "bad token")
        if not await run_in_threadpool(self.store.has_onboarding, onboarding_id):
            raise _RefusedError(404, "unknown onboarding")
        headers = {k.lower(): v for k, v in request.headers.items()}
        webhook_id = _webhook_id(headers)
        text = await self._signed_text(request, headers)
        payload = _parse_payload(text)
        recorded = await run_in_threadpool(
            self.store.record_callback,
            onboarding_id, webhook_id, _status(payload), payload, self.clock.now(),
        )  # fmt: skip
        if not recorded:
            raise _RefusedError(409, "replayed webhook-id")
        return JSONResponse({"accepted": True}, status_code=202)

    async def _signed_text(self, request: Request, headers: dict[str, str]) -> str:
        """The body as text, its signature checked when a signing secret is set."""
        body = await _read_body(request, self.max_body_bytes)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _RefusedError(400, "body is not valid UTF-8") from None
        if self.verifier is not None:
            try:
                self.verifier.verify(text, headers, json_parse=False)
            except (WebhookVerificationError, ValueError):  # ValueError: a garbled signature
                raise _RefusedError(401, "bad or missing signature") from None
        return text
