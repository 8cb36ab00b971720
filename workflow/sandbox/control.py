"""The sandbox's own endpoints under ``/_sandbox``, a path no Sent client uses.

They show everything the sandbox holds (deleted profiles included, how often each mutation was
executed versus replayed, which ``x-profile-id`` each call carried) and let a test change the
faults, the organization, one profile's KYC form and the clock while it runs.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workflow.sandbox.faults import FaultConfig
from workflow.sandbox.scoping import ScopeLog
from workflow.sandbox.state import OrganizationConfig

if TYPE_CHECKING:
    from workflow.sandbox.app import Sandbox

__all__ = ["Control", "snapshot"]


def snapshot(sandbox: Sandbox) -> dict[str, Any]:
    """Everything the sandbox holds, deleted profiles included, and the mutation counts."""
    scoping = sandbox.scopes.entries()
    by_profile = ScopeLog.by_profile(scoping)
    with sandbox.state.lock:
        profiles = [
            {
                **sandbox.state.detail(r),
                "deleted": r.deleted,
                "own_campaigns": list(r.campaigns),
                "completion": r.completion,
                "payments_forwarded": r.payments_forwarded,
                "x_profile_ids": by_profile.get(r.data["id"], []),
            }
            for r in sandbox.state.profiles.values()
        ]
    return {
        "organization": sandbox.state.organization.model_dump(exclude={"api_keys"}),
        "profiles": profiles,
        "mutations": sandbox.mutation_counts(),
        "idempotency_keys": len(sandbox.idempotency),
        "cache_client_errors": sandbox.cache_client_errors,
        "x_profile_ids": scoping,
        "callbacks": {
            "sent": sandbox.completer.callbacks_sent,
            "dropped": sandbox.completer.callbacks_dropped,
        },
        "now": sandbox.clock.now().isoformat(),
    }


class Control:
    """The ``/_sandbox`` routes of one sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def routes(self) -> list[Route]:
        return [
            Route("/_sandbox/state", self._inspect, methods=["GET"]),
            Route("/_sandbox/faults", self._faults, methods=["GET", "PUT"]),
            Route("/_sandbox/organization", self._organization, methods=["GET", "PUT"]),
            Route("/_sandbox/clock", self._clock, methods=["POST"]),
            Route("/_sandbox/flush", self._flush, methods=["POST"]),
            Route("/_sandbox/profiles/{profile_id}/kyc", self._kyc, methods=["PUT"]),
        ]

    async def _inspect(self, request: Request) -> Response:
        return JSONResponse(snapshot(self.sandbox))

    async def _faults(self, request: Request) -> Response:
        if request.method == "PUT":
            self.sandbox.faults.configure(FaultConfig.model_validate(await request.json()))
        return JSONResponse(self.sandbox.faults.config.model_dump(mode="json"))

    async def _organization(self, request: Request) -> Response:
        if request.method == "PUT":
            update = await request.json()
            with self.sandbox.state.lock:
                merged = {**self.sandbox.state.organization.model_dump(), **update}
                self.sandbox.state.organization = OrganizationConfig.model_validate(merged)
                compliance = self.sandbox.state.org_brand["compliance"]
                compliance["is_tcr_application"] = (
                    self.sandbox.state.organization.brand_is_tcr_application
                )
        return JSONResponse(self.sandbox.state.organization.model_dump(exclude={"api_keys"}))

    async def _clock(self, request: Request) -> Response:
        payload = await request.json()
        self.sandbox.clock.advance(float(payload.get("advance_seconds", 0)))
        return JSONResponse({"now": self.sandbox.clock.now().isoformat()})

    async def _kyc(self, request: Request) -> Response:
        """``PUT /_sandbox/profiles/{id}/kyc`` ``{"submitted": bool | null}``: one profile's
        KYC form (``null``: the organization's flag)."""
        payload = await request.json()
        submitted = payload.get("submitted") if isinstance(payload, dict) else None
        with self.sandbox.state.lock:
            record = self.sandbox.state.profiles.get(request.path_params["profile_id"])
            if record is None:
                return JSONResponse({"error": "no such profile"}, status_code=404)
            record.kyc_submitted = submitted if isinstance(submitted, bool) else None
        return JSONResponse({"kyc_submitted": record.kyc_submitted})

    async def _flush(self, request: Request) -> Response:
        await asyncio.to_thread(self.sandbox.completer.flush)
        return JSONResponse({"flushed": True})
