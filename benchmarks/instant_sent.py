"""A Sent that answers at once, in process: the engine's own cost with the API taken away.

It implements the engine's ``SentApi`` port for the own-brand TCR sample's calls, keeping
profiles in memory and answering with the shapes the real client returns, so what a benchmark
measures with it is the engine (steps, checkpoints, audit) and the database, nothing else.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from typing import Any

from workflow.ports.sent_models import Campaign, CompleteResult, ProfileDetail, SentResponse

__all__ = ["InstantSent"]

# Parametrised once: pydantic builds a class each time ``SentResponse[X]`` is written.
PROFILE_REPLY = SentResponse[ProfileDetail]
CAMPAIGN_REPLY = SentResponse[Campaign]
COMPLETE_REPLY = SentResponse[CompleteResult]


class InstantSent:
    """Profiles in a dict; every call answers immediately. Thread-safe."""

    def __init__(self) -> None:
        self._profiles: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _reply(self, profile_id: str, status: int) -> SentResponse[ProfileDetail]:
        return PROFILE_REPLY(
            data=ProfileDetail.model_validate(self._profiles[profile_id]), status=status
        )

    def create_profile(
        self, body: Mapping[str, Any], *, idempotency_key: str
    ) -> SentResponse[ProfileDetail]:
        profile_id = str(uuid.uuid4())
        with self._lock:
            self._profiles[profile_id] = {
                "id": profile_id, "status": "incomplete",
                **{k: v for k, v in body.items() if k not in ("brand", "payment_details")},
            }  # fmt: skip
            return self._reply(profile_id, 201)

    def update_profile(
        self, profile_id: str, body: Mapping[str, Any], *, idempotency_key: str
    ) -> SentResponse[ProfileDetail]:
        with self._lock:
            profile = self._profiles[profile_id]
            brand = body.get("brand")
            if isinstance(brand, Mapping):
                compliance = brand.get("compliance") or {}
                profile["brand"] = {
                    "id": f"b-{profile_id}", "is_inherited": False,
                    "compliance": {
                        "is_tcr_application": compliance.get("isTcrApplication"),
                        "destination_countries": compliance.get("destinationCountries") or [],
                    },
                }  # fmt: skip
            profile.update({k: v for k, v in body.items() if k != "brand"})
            return self._reply(profile_id, 200)

    def create_campaign(
        self, profile_id: str, campaign: Mapping[str, Any], *, idempotency_key: str
    ) -> SentResponse[Campaign]:
        data = {"id": str(uuid.uuid4()), "name": campaign.get("name")}
        return CAMPAIGN_REPLY(data=Campaign.model_validate(data), status=201)

    def complete(
        self, profile_id: str, web_hook_url: str, *, idempotency_key: str
    ) -> SentResponse[CompleteResult]:
        with self._lock:
            self._profiles[profile_id]["status"] = "submitted"
        result = CompleteResult(message="Profile completion in progress")
        return COMPLETE_REPLY(data=result, status=202)

    def get_profile(self, profile_id: str) -> SentResponse[ProfileDetail]:
        with self._lock:
            return self._reply(profile_id, 200)

    def list_profiles(self) -> list[ProfileDetail]:
        with self._lock:
            return [ProfileDetail.model_validate(p) for p in self._profiles.values()]

    def list_campaigns(self, profile_id: str) -> list[Campaign]:
        return []

    def delete_profile(self, profile_id: str) -> None:
        with self._lock:
            self._profiles.pop(profile_id, None)
