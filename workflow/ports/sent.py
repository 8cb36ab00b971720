"""The Sent port: what the engine needs from Sent (``HttpxSentApi`` implements it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from workflow.ports.sent_models import Campaign, CompleteResult, ProfileDetail, SentResponse

__all__ = ["SentApi"]


class SentApi(Protocol):
    """What the engine needs from Sent.

    ``scope`` is the ``x-profile-id`` header: the child profile a call acts on.
    ``sandbox`` is the body flag of every mutation.
    """

    def create_profile(
        self, body: Mapping[str, Any], *, idempotency_key: str
    ) -> SentResponse[ProfileDetail]: ...

    def get_profile(self, profile_id: str) -> SentResponse[ProfileDetail]: ...

    def list_profiles(self) -> list[ProfileDetail]: ...

    def update_profile(
        self, profile_id: str, body: Mapping[str, Any], *, idempotency_key: str
    ) -> SentResponse[ProfileDetail]: ...

    def delete_profile(self, profile_id: str) -> None: ...

    def complete(
        self, profile_id: str, web_hook_url: str, *, idempotency_key: str
    ) -> SentResponse[CompleteResult]: ...

    def list_campaigns(self, profile_id: str) -> list[Campaign]: ...

    def create_campaign(
        self, profile_id: str, campaign: Mapping[str, Any], *, idempotency_key: str
    ) -> SentResponse[Campaign]: ...
