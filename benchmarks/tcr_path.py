"""The own-brand TCR onboarding (sample ``demo-own-brand-tcr``) as plain calls to Sent.

The contenders that are not this engine make exactly the calls the engine makes for that sample,
in the same order and with Idempotency-Keys of the same shape:

    POST /v3/profiles, PATCH brand, POST campaign, PATCH channels, POST /complete, then GET the
    profile every ``poll`` seconds until its status is final. (The engine checks the
    prerequisites from the replies it already holds: no reads before ``/complete``.)
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Protocol

import httpx
import yaml

__all__ = [
    "CALLBACK_BASE_URL",
    "DONE_LINE",
    "FINAL_STATUSES",
    "READY_LINE",
    "SAMPLE_KEY",
    "SentCallError",
    "SentCalls",
    "Steps",
    "documents",
    "expected_mutations",
    "idempotency_key",
    "onboard",
]

SAMPLES = Path(__file__).resolve().parent.parent / "workflow" / "samples" / "demo.yaml"
SAMPLE_KEY = "demo-own-brand-tcr"
FINAL_STATUSES = frozenset({"submitted", "pending_review", "completed", "approved"})
#: Nothing listens here: the sandbox's completion callbacks are refused at once, for everyone.
CALLBACK_BASE_URL = "http://127.0.0.1:9"
#: The lines a contender script prints once it can work and once every onboarding is done.
READY_LINE = "contender: ready"
DONE_LINE = "contender: done"
#: Reads of a completing profile before giving up (a wrong result, not a slow one).
MAX_POLLS = 600


def documents(count: int, prefix: str) -> list[dict[str, Any]]:
    """``count`` copies of the sample, each with its own key and profile name."""
    loaded = yaml.safe_load(SAMPLES.read_text(encoding="utf-8"))
    sample = next(d for d in loaded if d["key"] == SAMPLE_KEY)
    docs = []
    for index in range(count):
        doc = copy.deepcopy(sample)
        doc["key"] = f"{prefix}-{index}"
        doc["profile"]["name"] = f"{sample['profile']['name']} {index}"
        docs.append(doc)
    return docs


def expected_mutations(count: int) -> dict[str, int]:
    """The mutations Sent executes for ``count`` onboardings of the sample, by sandbox name."""
    campaigns = len(documents(1, "x")[0]["campaigns"])
    return {
        "create_profile executed": count,
        "update_profile executed": 2 * count,
        "create_campaign executed": campaigns * count,
        "complete executed": count,
    }


def idempotency_key(onboarding_id: str, step: str, item: int = 0) -> str:
    """The engine's key shape: (onboarding, step, item, generation 0)."""
    return f"onb-{onboarding_id}-{step}-{item}-g0"


class SentCallError(RuntimeError):
    """Sent answered an error; at zero faults that is a wrong result."""


class SentCalls:
    """One shared ``httpx.Client`` (thread-safe) making the sample's calls."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"x-api-key": api_key, "accept": "application/json"},
            timeout=timeout,
        )

    def call(self, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
        """One request; returns the envelope's ``data``.

        Raises:
            SentCallError: any status of 400 or more.
        """
        headers = {"Idempotency-Key": key} if key is not None else {}
        response = self.http.request(method, path, json=body, headers=headers)
        if response.status_code >= 400:
            raise SentCallError(f"{method} {path}: {response.status_code} {response.text[:200]}")
        return response.json().get("data")

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()


class Steps(Protocol):
    """The calls :func:`onboard` makes; each contender decides how they are run and recorded."""

    def create_profile(self, body: dict[str, Any], key: str) -> str: ...
    def update_profile(self, profile_id: str, body: dict[str, Any], key: str) -> None: ...
    def create_campaign(self, profile_id: str, body: dict[str, Any], key: str) -> str: ...
    def get_profile(self, profile_id: str) -> dict[str, Any]: ...
    def list_campaigns(self, profile_id: str) -> list[dict[str, Any]]: ...
    def complete(self, profile_id: str, web_hook_url: str, key: str) -> None: ...
    def sleep(self, seconds: float) -> None: ...


def onboard(steps: Steps, doc: dict[str, Any], onboarding_id: str, poll: float) -> str:
    """Run one onboarding of the sample; returns the profile's final status.

    Raises:
        SentCallError: a call failed, or the status was not final after ``MAX_POLLS`` reads.
    """

    def key(step: str, item: int = 0) -> str:
        return idempotency_key(onboarding_id, step, item)

    profile_id = steps.create_profile(doc["profile"], key("create"))
    steps.update_profile(profile_id, {"brand": doc["brand"]}, key("brand"))
    for index, campaign in enumerate(doc["campaigns"]):
        steps.create_campaign(profile_id, {"campaign": campaign}, key("campaign", index))
    steps.update_profile(profile_id, doc["channels"], key("channels"))
    callback = f"{CALLBACK_BASE_URL}/callbacks/{onboarding_id}"
    steps.complete(profile_id, callback, key("complete"))
    for _ in range(MAX_POLLS):
        steps.sleep(poll)
        status = str(steps.get_profile(profile_id).get("status") or "").lower()
        if status in FINAL_STATUSES:
            return status
    raise SentCallError(f"profile {profile_id} was not final after {MAX_POLLS} reads")
