"""The sandbox as an ASGI app: a faithful fake of Sent's v3 profile and campaign endpoints.

Around every API call: ``x-api-key`` authentication, injected faults, ``x-profile-id``
scoping (recorded per request: :mod:`workflow.sandbox.scoping`) and Idempotency-Key replay.
The operations themselves are :mod:`workflow.sandbox.endpoints`. Under ``/_sandbox`` (a path
no Sent client uses, :mod:`workflow.sandbox.control`) it shows everything it holds and lets a
test change faults, the organization and the clock while it runs.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workflow.core.clock import Clock
from workflow.core.validation import MAX_DEPTH, json_nesting_overflow, validate_idempotency_key
from workflow.sandbox.clock import OffsetClock
from workflow.sandbox.completion import Completer
from workflow.sandbox.control import Control, snapshot
from workflow.sandbox.endpoints import Endpoints
from workflow.sandbox.envelope import Reply, error_reply, request_id
from workflow.sandbox.faults import FaultConfig, FaultInjector, ScriptedFault
from workflow.sandbox.idempotency import IdempotencyCache
from workflow.sandbox.scoping import ScopeLog, out_of_scope
from workflow.sandbox.state import OrganizationConfig, SandboxState

__all__ = ["OffsetClock", "Sandbox"]

REUSED_KEY = "Idempotency-Key was already used with a different request body"
#: What an INTERNAL_001 says failed, per operation, in the seeds' words.
FAILURES = {
    "create_profile": "create profile", "list_profiles": "retrieve profiles",
    "get_profile": "retrieve profile", "update_profile": "update profile",
    "delete_profile": "delete profile", "complete": "complete profile",
    "list_campaigns": "retrieve campaigns", "create_campaign": "create campaign",
    "update_campaign": "update campaign", "delete_campaign": "delete campaign",
}  # fmt: skip
#: The seeds dated 03-25 and later (update, list) link the error catalog; the older ones a page.
CATALOG_OPERATIONS = frozenset({"update_profile", "list_profiles", "get_profile", "complete"})


Handler = Callable[[Request, dict[str, Any], str], Reply]


class Sandbox:
    """The fake Sent: state, faults, idempotency, background completion and the ASGI app.

    Args:
        organization: the organization it pretends to be (brand, campaigns, WhatsApp account,
            list paging, rejections); replaceable live through ``PUT /_sandbox/organization``.
        faults: what it gets wrong on purpose.
        clock: the time it starts from (its own clock then moves with ``/_sandbox/clock``).
        signing_secret: ``whsec_...`` to sign completion callbacks.
        api_revision: the Sent API revision played (``2026-03`` or ``2026-10``), over the
            organization's ``api_revision``.
        cache_client_errors: keep refused (4xx) answers under their Idempotency-Key for 24 h,
            as Sent's docs allow ("responses are cached for 24 hours per key"), so the same key
            answers the same refusal even after its cause is fixed; ``False`` keeps only
            successes, so the same key is executed again. 5xx answers are never kept.
    """

    def __init__(
        self,
        organization: OrganizationConfig | None = None,
        faults: FaultConfig | None = None,
        *,
        clock: Clock | None = None,
        signing_secret: str | None = None,
        cache_client_errors: bool = True,
        api_revision: str | None = None,
    ) -> None:
        self.cache_client_errors = cache_client_errors
        if api_revision is not None:
            organization = (organization or OrganizationConfig()).model_copy(
                update={
                    "api_revision": OrganizationConfig.model_validate(
                        {"api_revision": api_revision}
                    ).api_revision
                }
            )
        self._in_flight: set[tuple[str, str]] = set()
        self._flight_lock = threading.Lock()
        self._completes: dict[str, deque[datetime]] = {}
        self.scopes = ScopeLog()
        self.clock = OffsetClock(clock)
        self.state = SandboxState(organization or OrganizationConfig(), self.clock)
        self.faults = FaultInjector(faults)
        #: Set by :meth:`close`: requests still held by a latency or hang fault answer at once.
        self._closing = threading.Event()
        self.idempotency = IdempotencyCache()
        self.completer = Completer(self.state, self.faults, signing_secret=signing_secret)
        self.counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self.endpoints = Endpoints(self.state, self.completer, self.clock)
        self.app = Starlette(routes=self._routes())

    # ----------------------------------------------------------------- plumbing
    def _count(self, operation: str, outcome: str) -> None:
        with self._count_lock:
            self.counts[f"{operation} {outcome}"] += 1

    def _routes(self) -> list[Route]:
        one = "/v3/profiles/{profile_id}"
        campaigns = one + "/campaigns"
        campaign = campaigns + "/{campaign_id}"
        ops = self.endpoints
        api = [
            ("/v3/profiles", "POST", "create_profile", ops.create_profile, True),
            ("/v3/profiles", "GET", "list_profiles", ops.list_profiles, False),
            (one, "GET", "get_profile", ops.get_profile, False),
            (one, "PATCH", "update_profile", ops.update_profile, True),
            (one, "DELETE", "delete_profile", ops.delete_profile, False),
            (one + "/complete", "POST", "complete", ops.complete, True),
            (campaigns, "GET", "list_campaigns", ops.list_campaigns, False),
            (campaigns, "POST", "create_campaign", ops.create_campaign, True),
            (campaign, "PUT", "update_campaign", ops.update_campaign, True),
            (campaign, "DELETE", "delete_campaign", ops.delete_campaign, False),
        ]
        by_path: dict[str, dict[str, tuple[str, Handler, bool]]] = {}
        for path, method, name, handler, keyed in api:
            by_path.setdefault(path, {})[method] = (name, handler, keyed)
        routes = [
            Route(path, self._endpoint(methods), methods=list(methods))
            for path, methods in by_path.items()
        ]
        return routes + Control(self).routes()

    def _endpoint(self, methods: dict[str, tuple[str, Handler, bool]]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            name, handler, keyed = methods[request.method]
            return await self._handle(request, name, handler, keyed)

        return endpoint

    async def _handle(self, request: Request, name: str, handler: Handler, keyed: bool) -> Response:
        rid = request_id()
        raw = await request.body()
        api_key = request.headers.get("x-api-key", "")
        if api_key not in self.state.organization.api_keys:
            return Response(status_code=401)
        if name == "complete":
            limited = self._rate_limited(api_key, rid)
            if limited is not None:
                self._count(name, "rate_limited")
                return _response(limited)
        key = request.headers.get("idempotency-key") if keyed else None
        if key is None:
            return await self._handle_once(request, name, handler, keyed, api_key, raw, rid)
        token = (api_key, key)
        with self._flight_lock:
            busy = token in self._in_flight
            self._in_flight.add(token)
        if busy:  # the same key is still being processed: Sent answers 409, nothing runs
            self._count(name, "in_flight_conflict")
            return _response(
                error_reply(
                    409, "CONFLICT_001",
                    "A request with this Idempotency-Key is still being processed",
                    rid, self.clock.now(), headers={"retry-after": "1"},
                )
            )  # fmt: skip
        try:
            return await self._handle_once(request, name, handler, keyed, api_key, raw, rid)
        finally:
            with self._flight_lock:
                self._in_flight.discard(token)

    def _rate_limited(self, api_key: str, rid: str) -> Reply | None:
        """429 when ``/complete`` was called ``complete_per_minute`` times in the last minute."""
        limit = self.state.organization.complete_per_minute
        if not limit:
            return None
        now = self.clock.now()
        with self._flight_lock:
            window = self._completes.setdefault(api_key, deque())
            while window and (now - window[0]).total_seconds() >= 60:
                window.popleft()
            if len(window) < limit:
                window.append(now)
                return None
            wait = 60 - (now - window[0]).total_seconds()
        return error_reply(
            429, "RATE_LIMIT_001", "Too many requests; retry after the given delay", rid, now,
            headers={"retry-after": str(max(1, math.ceil(wait)))},
        )  # fmt: skip

    async def _handle_once(
        self,
        request: Request,
        name: str,
        handler: Handler,
        keyed: bool,
        api_key: str,
        raw: bytes,
        rid: str,
    ) -> Response:
        decision = self.faults.decide(
            method=request.method,
            path=request.url.path,
            body=raw,
            api_key=api_key,
            mutation=request.method != "GET",
        )
        if decision.delay:
            await self._held(decision.delay)
        if decision.status is not None:
            self._count(name, "faulted")
            reply = self._fault_reply(decision.status, name, rid, decision.retry_after)
            reply = _scripted_body(reply, decision.scripted)
        else:
            reply = self._answer(request, name, handler, keyed, api_key, raw, rid)
        self._note_scope(request, name, reply)
        if decision.lose_response is not None:
            self._count(name, "response_lost")
            reply = self._fault_reply(decision.lose_response, name, rid, None)
            reply = _scripted_body(reply, decision.scripted)
        return _response(reply)

    def _answer(
        self,
        request: Request,
        name: str,
        handler: Handler,
        keyed: bool,
        api_key: str,
        raw: bytes,
        rid: str,
    ) -> Reply:
        """The answer to an authenticated request that no fault replaced."""
        body = self._body(raw, rid)
        if isinstance(body, Reply):
            return body
        key = request.headers.get("idempotency-key") if keyed else None
        if key is None:
            with self.state.lock:
                return self._execute(request, name, handler, body, rid)
        problems = validate_idempotency_key(key)
        if problems:
            return error_reply(
                400, "VALIDATION_001", "Request validation failed", rid, self.clock.now(),
                details={p.path: [p.message] for p in problems},
            )  # fmt: skip
        fingerprint = self.idempotency.fingerprint(request.method, request.url.path, raw)
        with self.state.lock:
            found = self.idempotency.lookup(api_key, key, fingerprint, self.clock.now())
            if found.conflict:
                self._count(name, "conflict")
                return error_reply(
                    422, "VALIDATION_001",
                    "Idempotency-Key was already used with a different request", rid,
                    self.clock.now(),
                    details={"Idempotency-Key": [REUSED_KEY]},
                )  # fmt: skip
            if found.replay is not None:
                self._count(name, "replayed")
                return _replayed(found.replay)
            reply = self._execute(request, name, handler, body, rid)
            if reply.status < 400 or (reply.status < 500 and self.cache_client_errors):
                self.idempotency.store(api_key, key, fingerprint, reply, self.clock.now())
            return reply

    def _body(self, raw: bytes, rid: str) -> dict[str, Any] | Reply:
        """The request's JSON object, or the 400 a body that is not one gets."""
        try:
            text = raw.decode("utf-8")
            # Measured before decoding: the decoder recurses once per level.
            too_deep = json_nesting_overflow(text) is not None
            body = None if too_deep else (json.loads(text) if text.strip() else {})
        except ValueError:
            too_deep, body = False, None
        if too_deep:
            return error_reply(
                400, "VALIDATION_001", "Request validation failed", rid, self.clock.now(),
                details={"body": [f"nested deeper than {MAX_DEPTH} levels"]},
            )  # fmt: skip
        if not isinstance(body, dict):
            return error_reply(
                400, "VALIDATION_001", "Request validation failed", rid, self.clock.now(),
                details={"body": ["The request body must be a JSON object"]},
            )  # fmt: skip
        return body

    def _note_scope(self, request: Request, name: str, reply: Reply) -> None:
        """Record the x-profile-id a request carried, against the profile it acted on."""
        profile_id = request.path_params.get("profile_id")
        if name == "create_profile" and reply.status < 300 and reply.body is not None:
            profile_id = reply.body["data"]["id"]
        self.scopes.note(name, profile_id, request.headers.get("x-profile-id"))

    def _execute(
        self, request: Request, name: str, handler: Handler, body: dict[str, Any], rid: str
    ) -> Reply:
        if not self.state.organization.exists:
            return error_reply(
                404, "RESOURCE_005", "Organization not found", rid, self.clock.now(),
                catalog_doc=name in CATALOG_OPERATIONS,
            )  # fmt: skip
        scope = request.headers.get("x-profile-id")
        if scope is not None and self.state.live(scope) is None:
            return error_reply(404, "RESOURCE_014", "Profile not found", rid, self.clock.now())
        if out_of_scope(scope, request.path_params.get("profile_id")):
            return error_reply(404, "RESOURCE_014", "Profile not found", rid, self.clock.now())
        reply = handler(request, body, rid)
        if request.method != "GET":
            self._count(name, "executed" if reply.status < 400 else "rejected")
        return reply

    def _fault_reply(self, status: int, name: str, rid: str, retry_after: float | None) -> Reply:
        now = self.clock.now()
        catalog = name in CATALOG_OPERATIONS
        if status == 429:
            return error_reply(
                429, "RATE_LIMIT_001", "Too many requests; retry after the given delay", rid, now,
                headers={"retry-after": f"{retry_after or 1:g}"}, catalog_doc=catalog,
            )  # fmt: skip
        return error_reply(
            status, "INTERNAL_001",
            f"Failed to {FAILURES[name]}. Please contact support with request ID: {rid}", rid, now,
            catalog_doc=catalog,
        )  # fmt: skip

    # -------------------------------------------------------------- inspection
    def mutation_counts(self) -> dict[str, int]:
        """How often each operation ended each way (``"create_profile executed"``: 3)."""
        with self._count_lock:
            return dict(self.counts)

    def snapshot(self) -> dict[str, Any]:
        """Everything the sandbox holds, deleted profiles included, and the mutation counts."""
        return snapshot(self)

    def close(self) -> None:
        """Stop background completions, and let requests held by a fault answer now (a server
        waiting for its requests to finish then stops without waiting out a hang)."""
        self._closing.set()
        self.completer.close()

    async def _held(self, seconds: float) -> None:
        """Wait ``seconds`` (a latency or hang fault), or until the sandbox closes."""
        deadline = time.monotonic() + seconds
        while not self._closing.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.05))


def _response(reply: Reply) -> Response:
    if reply.body is None:
        return Response(status_code=reply.status, headers=reply.headers)
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


def _replayed(replay: Reply) -> Reply:
    """A kept answer given again, marked as a replay of the request that first got it."""
    original = ((replay.body or {}).get("meta") or {}).get("request_id")
    headers = {**replay.headers, "idempotent-replayed": "true"}
    if original:
        headers["x-original-request-id"] = str(original)
    return Reply(replay.status, replay.body, headers)


def _scripted_body(reply: Reply, fault: ScriptedFault | None) -> Reply:
    """``reply`` with the error code and message a scripted fault gives, if it gives them."""
    if fault is None or (fault.code is None and fault.message is None) or reply.body is None:
        return reply
    error = dict(reply.body["error"])
    if fault.code is not None:
        error["code"] = fault.code
    if fault.message is not None:
        error["message"] = fault.message
    return Reply(reply.status, {**reply.body, "error": error}, reply.headers)
