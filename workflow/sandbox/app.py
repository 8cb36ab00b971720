"""The sandbox as an ASGI app: a faithful fake of Sent's v3 profile and campaign endpoints.

Around every API call: ``x-api-key`` authentication, injected faults, ``x-profile-id``
scoping (recorded per request: :mod:`workflow.sandbox.scoping`) and Idempotency-Key replay.
Under ``/_sandbox`` (a path no Sent client uses) it shows everything it holds, deleted profiles
included, how often each mutation was executed versus replayed and which ``x-profile-id`` each
call carried, and lets a test change faults, the organization and the clock while it runs.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workflow.clock import Clock
from workflow.sandbox.clock import OffsetClock
from workflow.sandbox.completion import Completer
from workflow.sandbox.envelope import Reply, error_reply, ok_reply, request_id
from workflow.sandbox.faults import FaultConfig, FaultInjector, ScriptedFault
from workflow.sandbox.idempotency import IdempotencyCache
from workflow.sandbox.listing import list_reply
from workflow.sandbox.scoping import ScopeLog, out_of_scope
from workflow.sandbox.state import OrganizationConfig, ProfileRecord, SandboxState
from workflow.validation import MAX_DEPTH, json_nesting_overflow, validate_idempotency_key

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
        self.idempotency = IdempotencyCache()
        self.completer = Completer(self.state, self.faults, signing_secret=signing_secret)
        self.counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self.app = Starlette(routes=self._routes())

    # ----------------------------------------------------------------- plumbing
    def _count(self, operation: str, outcome: str) -> None:
        with self._count_lock:
            self.counts[f"{operation} {outcome}"] += 1

    def _routes(self) -> list[Route]:
        one = "/v3/profiles/{profile_id}"
        campaigns = one + "/campaigns"
        campaign = campaigns + "/{campaign_id}"
        api = [
            ("/v3/profiles", "POST", "create_profile", self._create_profile, True),
            ("/v3/profiles", "GET", "list_profiles", self._list_profiles, False),
            (one, "GET", "get_profile", self._get_profile, False),
            (one, "PATCH", "update_profile", self._update_profile, True),
            (one, "DELETE", "delete_profile", self._delete_profile, False),
            (one + "/complete", "POST", "complete", self._complete, True),
            (campaigns, "GET", "list_campaigns", self._list_campaigns, False),
            (campaigns, "POST", "create_campaign", self._create_campaign, True),
            (campaign, "PUT", "update_campaign", self._update_campaign, True),
            (campaign, "DELETE", "delete_campaign", self._delete_campaign, False),
        ]
        by_path: dict[str, dict[str, tuple[str, Handler, bool]]] = {}
        for path, method, name, handler, keyed in api:
            by_path.setdefault(path, {})[method] = (name, handler, keyed)
        routes = [
            Route(path, self._endpoint(methods), methods=list(methods))
            for path, methods in by_path.items()
        ]
        routes += [
            Route("/_sandbox/state", self._inspect, methods=["GET"]),
            Route("/_sandbox/faults", self._faults, methods=["GET", "PUT"]),
            Route("/_sandbox/organization", self._organization, methods=["GET", "PUT"]),
            Route("/_sandbox/clock", self._clock, methods=["POST"]),
            Route("/_sandbox/flush", self._flush, methods=["POST"]),
            Route("/_sandbox/profiles/{profile_id}/kyc", self._kyc, methods=["PUT"]),
        ]
        return routes

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
            await asyncio.sleep(decision.delay)
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
                replay = found.replay
                original = ((replay.body or {}).get("meta") or {}).get("request_id")
                headers = {**replay.headers, "idempotent-replayed": "true"}
                if original:
                    headers["x-original-request-id"] = str(original)
                return Reply(replay.status, replay.body, headers)
            reply = self._execute(request, name, handler, body, rid)
            if reply.status < 400 or (reply.status < 500 and self.cache_client_errors):
                self.idempotency.store(api_key, key, fingerprint, reply, self.clock.now())
            return reply

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

    def _profile(self, request: Request, rid: str) -> ProfileRecord | Reply:
        record = self.state.live(request.path_params["profile_id"])
        if record is None:
            return error_reply(
                404, "RESOURCE_014", "Profile not found", rid, self.clock.now(),
                catalog_doc=request.method in ("PATCH", "GET"),  # as the seeds show
            )  # fmt: skip
        return record

    # --------------------------------------------------------------- endpoints
    def _create_profile(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        return self.state.create_profile(body, rid)

    def _list_profiles(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        scope = request.headers.get("x-profile-id")
        profiles = [
            self.state.detail(r)
            for r in self.state.profiles.values()
            if not r.deleted and (scope is None or r.data["id"] == scope)
        ]
        page_size = self.state.organization.list_page_size
        return list_reply(profiles, request.query_params, page_size, rid, self.clock.now())

    def _get_profile(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        record = self._profile(request, rid)
        if isinstance(record, Reply):
            return record
        return ok_reply(200, self.state.detail(record), rid, self.clock.now())

    def _update_profile(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        record = self._profile(request, rid)
        return record if isinstance(record, Reply) else self.state.update_profile(record, body, rid)

    def _delete_profile(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        record = self._profile(request, rid)
        if isinstance(record, Reply):
            return record
        record.deleted = True
        return Reply(204, None)

    def _complete(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        record = self._profile(request, rid)
        return record if isinstance(record, Reply) else self.completer.request(record, body, rid)

    def _list_campaigns(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        record = self._profile(request, rid)
        if isinstance(record, Reply):
            return record
        return ok_reply(200, self.state.visible_campaigns(record), rid, self.clock.now())

    def _create_campaign(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        record = self._profile(request, rid)
        return (
            record if isinstance(record, Reply) else self.state.create_campaign(record, body, rid)
        )

    def _update_campaign(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        record = self._profile(request, rid)
        if isinstance(record, Reply):
            return record
        return self.state.update_campaign(record, request.path_params["campaign_id"], body, rid)

    def _delete_campaign(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        record = self._profile(request, rid)
        if isinstance(record, Reply):
            return record
        return self.state.delete_campaign(record, request.path_params["campaign_id"], rid)

    # -------------------------------------------------------------- inspection
    def snapshot(self) -> dict[str, Any]:
        """Everything the sandbox holds, deleted profiles included, and the mutation counts."""
        scoping = self.scopes.entries()
        by_profile = ScopeLog.by_profile(scoping)
        with self.state.lock:
            profiles = [
                {
                    **self.state.detail(r),
                    "deleted": r.deleted,
                    "own_campaigns": list(r.campaigns),
                    "completion": r.completion,
                    "payments_forwarded": r.payments_forwarded,
                    "x_profile_ids": by_profile.get(r.data["id"], []),
                }
                for r in self.state.profiles.values()
            ]
        with self._count_lock:
            counts = dict(self.counts)
        return {
            "organization": self.state.organization.model_dump(exclude={"api_keys"}),
            "profiles": profiles,
            "mutations": counts,
            "idempotency_keys": len(self.idempotency),
            "cache_client_errors": self.cache_client_errors,
            "x_profile_ids": scoping,
            "callbacks": {
                "sent": self.completer.callbacks_sent,
                "dropped": self.completer.callbacks_dropped,
            },
            "now": self.clock.now().isoformat(),
        }

    async def _inspect(self, request: Request) -> Response:
        return JSONResponse(self.snapshot())

    async def _faults(self, request: Request) -> Response:
        if request.method == "PUT":
            self.faults.configure(FaultConfig.model_validate(await request.json()))
        return JSONResponse(self.faults.config.model_dump(mode="json"))

    async def _organization(self, request: Request) -> Response:
        if request.method == "PUT":
            update = await request.json()
            with self.state.lock:
                merged = {**self.state.organization.model_dump(), **update}
                self.state.organization = OrganizationConfig.model_validate(merged)
                compliance = self.state.org_brand["compliance"]
                compliance["is_tcr_application"] = self.state.organization.brand_is_tcr_application
        return JSONResponse(self.state.organization.model_dump(exclude={"api_keys"}))

    async def _clock(self, request: Request) -> Response:
        payload = await request.json()
        self.clock.advance(float(payload.get("advance_seconds", 0)))
        return JSONResponse({"now": self.clock.now().isoformat()})

    async def _kyc(self, request: Request) -> Response:
        """``PUT /_sandbox/profiles/{id}/kyc`` ``{"submitted": bool | null}``: one profile's
        KYC form (``null``: the organization's flag)."""
        payload = await request.json()
        submitted = payload.get("submitted") if isinstance(payload, dict) else None
        with self.state.lock:
            record = self.state.profiles.get(request.path_params["profile_id"])
            if record is None:
                return JSONResponse({"error": "no such profile"}, status_code=404)
            record.kyc_submitted = submitted if isinstance(submitted, bool) else None
        return JSONResponse({"kyc_submitted": record.kyc_submitted})

    async def _flush(self, request: Request) -> Response:
        await asyncio.to_thread(self.completer.flush)
        return JSONResponse({"flushed": True})

    def close(self) -> None:
        """Stop background completions."""
        self.completer.close()


def _response(reply: Reply) -> Response:
    if reply.body is None:
        return Response(status_code=reply.status, headers=reply.headers)
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


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
