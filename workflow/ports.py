"""The seams between the engine and its adapters, in one place.

The engine talks to Sent through :class:`SentApi` (``HttpxSentApi`` implements it) and keeps its
facts in an :class:`OnboardingStore` (``persistence.SqlStore``). What crosses the seam is plain
data: :class:`AuditEntry` and :class:`AttemptRecord` going in, checkpoint rows coming out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from workflow.sent_models import Campaign, CompleteResult, ProfileDetail, SentResponse

__all__ = ["AttemptRecord", "AuditEntry", "SentApi"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A transition to append to the audit log (the store assigns the sequence number)."""

    trigger: str
    from_state: str | None
    to_state: str
    actor: str
    at: datetime
    reason: str | None = None
    request_id: str | None = None
    details: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One API call made by a step."""

    step: str
    attempt: int
    method: str
    path: str
    at: datetime
    latency_ms: float
    outcome: str  # "ok", "retry", "failed"
    idempotency_key: str | None = None
    http_status: int | None = None
    error_code: str | None = None
    request_id: str | None = None
    message: str | None = None


class SentApi(Protocol):
    """What the engine needs from Sent."""

    def create_profile(
        self, body: Mapping[str, Any], *, idempotency_key: str
    ) -> SentResponse[ProfileDetail]: ...

    def get_profile(self, profile_id: str) -> SentResponse[ProfileDetail]: ...

    def list_profiles(self) -> list[ProfileDetail]: ...

    def update_profile(
        self, profile_id: str, body: Mapping[str, Any], *, idempotency_key: str
    ) -> SentResponse[ProfileDetail]: ...

    def complete(
        self, profile_id: str, web_hook_url: str, *, idempotency_key: str
    ) -> SentResponse[CompleteResult]: ...

    def list_campaigns(self, profile_id: str) -> list[Campaign]: ...

    def create_campaign(
        self, profile_id: str, campaign: Mapping[str, Any], *, idempotency_key: str
    ) -> SentResponse[Campaign]: ...
