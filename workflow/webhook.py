"""The completion-callback receiver: a small ASGI app, mountable in any Starlette/FastAPI service.

``POST /callbacks/{onboarding_id}?token=...`` from Sent is checked (per-onboarding token, and
the Standard Webhooks signature when a signing secret is configured), recorded, and turned into
a nudge: the onboarding re-reads its profile now. The body is never trusted for state.

Forged (bad token or signature), replayed (a ``webhook-id`` seen before), unknown-onboarding
and malformed callbacks get a 4xx and change nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from workflow.clock import Clock, SystemClock
from workflow.ports import CallbackStore
from workflow.secrets import FernetVault

__all__ = ["create_callback_app", "verify_signature"]

log = logging.getLogger("workflow.webhook")
TOLERANCE_SECONDS = 300


def verify_signature(secret: str, headers: dict[str, str], body: bytes, now: float) -> bool:
    """Check a Standard Webhooks signature (``v1,<base64 HMAC-SHA256 of id.timestamp.body>``)."""
    message_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (message_id and stamp and signatures):
        return False
    try:
        if abs(now - int(stamp)) > TOLERANCE_SECONDS:
            return False
    except ValueError:
        return False
    key = secret.removeprefix("whsec_").encode()
    expected = base64.b64encode(
        hmac.new(key, f"{message_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    return any(
        hmac.compare_digest(candidate.partition(",")[2], expected)
        for candidate in signatures.split()
        if candidate.startswith("v1,")
    )


def _reject(status: int, reason: str, onboarding_id: str) -> JSONResponse:
    log.warning("callback for %s refused (%s): %s", onboarding_id[:64], status, reason)
    return JSONResponse({"accepted": False, "reason": reason}, status_code=status)


def create_callback_app(
    store: CallbackStore,
    vault: FernetVault,
    *,
    signing_secret: str | None = None,
    clock: Clock | None = None,
) -> Starlette:
    """The receiver app; mount it, or serve it (``onboarding worker --serve-callbacks``)."""
    time_source = clock or SystemClock()

    async def receive(request: Request) -> JSONResponse:
        onboarding_id = request.path_params["onboarding_id"]
        token = request.query_params.get("token", "")
        body = await request.body()
        if not store.has_onboarding(onboarding_id):
            return _reject(404, "unknown onboarding", onboarding_id)
        if not vault.check_callback_token(onboarding_id, token):
            return _reject(403, "bad token", onboarding_id)
        headers = {k.lower(): v for k, v in request.headers.items()}
        now = time_source.now()
        if signing_secret is not None and not verify_signature(
            signing_secret, headers, body, now.timestamp()
        ):
            return _reject(401, "bad or missing signature", onboarding_id)
        try:
            payload: Any = json.loads(body) if body else None
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return _reject(400, "body must be a JSON object", onboarding_id)
        status = payload.get("status")
        recorded = store.record_callback(
            onboarding_id, headers.get("webhook-id"), status if isinstance(status, str) else None,
            payload, now,
        )  # fmt: skip
        if not recorded:
            return _reject(409, "replayed webhook-id", onboarding_id)
        return JSONResponse({"accepted": True}, status_code=202)

    return Starlette(routes=[Route("/callbacks/{onboarding_id}", receive, methods=["POST"])])
