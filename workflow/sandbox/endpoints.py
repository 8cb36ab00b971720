"""The sandbox's profile and campaign operations, one method per API call.

Each takes the request, its already-parsed body and the request id, and returns a
:class:`~workflow.sandbox.envelope.Reply`; :class:`~workflow.sandbox.app.Sandbox` wraps them in
authentication, faults, scoping and idempotency, and holds the state's lock around them.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from workflow.core.clock import Clock
from workflow.sandbox.completion import Completer
from workflow.sandbox.envelope import Reply, error_reply, ok_reply
from workflow.sandbox.listing import list_reply
from workflow.sandbox.state import ProfileRecord, SandboxState

__all__ = ["Endpoints"]


class Endpoints:
    """The operations of ``/v3/profiles`` and its campaigns on one sandbox's state."""

    def __init__(self, state: SandboxState, completer: Completer, clock: Clock) -> None:
        self.state = state
        self.completer = completer
        self.clock = clock

    def profile(self, request: Request, rid: str) -> ProfileRecord | Reply:
        record = self.state.live(request.path_params["profile_id"])
        if record is None:
            return error_reply(
                404, "RESOURCE_014", "Profile not found", rid, self.clock.now(),
                catalog_doc=request.method in ("PATCH", "GET"),  # as the seeds show
            )  # fmt: skip
        return record

    def create_profile(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        return self.state.create_profile(body, rid)

    def list_profiles(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        scope = request.headers.get("x-profile-id")
        profiles = [
            self.state.detail(r)
            for r in self.state.profiles.values()
            if not r.deleted and (scope is None or r.data["id"] == scope)
        ]
        page_size = self.state.organization.list_page_size
        return list_reply(profiles, request.query_params, page_size, rid, self.clock.now())

    def get_profile(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        record = self.profile(request, rid)
        if isinstance(record, Reply):
            return record
        return ok_reply(200, self.state.detail(record), rid, self.clock.now())

    def update_profile(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        record = self.profile(request, rid)
        return record if isinstance(record, Reply) else self.state.update_profile(record, body, rid)

    def delete_profile(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        record = self.profile(request, rid)
        if isinstance(record, Reply):
            return record
        record.deleted = True
        return Reply(204, None)

    def complete(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        record = self.profile(request, rid)
        return record if isinstance(record, Reply) else self.completer.request(record, body, rid)

    def list_campaigns(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        record = self.profile(request, rid)
        if isinstance(record, Reply):
            return record
        return ok_reply(200, self.state.visible_campaigns(record), rid, self.clock.now())

    def create_campaign(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        record = self.profile(request, rid)
        return (
            record if isinstance(record, Reply) else self.state.create_campaign(record, body, rid)
        )

    def update_campaign(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        record = self.profile(request, rid)
        if isinstance(record, Reply):
            return record
        return self.state.update_campaign(record, request.path_params["campaign_id"], body, rid)

    def delete_campaign(self, request: Request, body: dict[str, Any], rid: str) -> Reply:
        record = self.profile(request, rid)
        if isinstance(record, Reply):
            return record
        return self.state.delete_campaign(record, request.path_params["campaign_id"], rid)
