"""The callback receiver with a signing secret: Standard Webhooks signatures are required."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Harness
from workflow.sandbox import ServerThread, sign
from workflow.webhook import create_callback_app, verify_signature

SECRET = "whsec_dGVzdC1zZWNyZXQ="


@pytest.fixture
def waiting(harness: Harness, samples: dict[str, Any]) -> str:
    onboarding = harness.start(samples["demo-inherited"])
    harness.force(onboarding, state="complete", next_attempt_at=None, wake_on_callback=True)
    return onboarding


@pytest.fixture
def client(harness: Harness) -> Iterator[httpx.Client]:
    app = create_callback_app(
        harness.store, harness.vault, signing_secret=SECRET, clock=harness.clock
    )
    with ServerThread(app) as server, httpx.Client(base_url=server.url) as http:
        yield http


def _signed(body: bytes, stamp: int, message_id: str = "msg_1") -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(SECRET, message_id, str(stamp), body),
        "content-type": "application/json",
    }


@pytest.mark.parametrize("database_url_for_test", ["sqlite"], indirect=True)
def test_signed_callback_is_accepted_and_unsigned_refused(
    harness: Harness, waiting: str, client: httpx.Client
) -> None:
    """Only a correctly signed, fresh callback nudges the onboarding."""
    url = harness.executor.callback_url(waiting).removeprefix(
        harness.executor.config.callback_base_url
    )
    body = json.dumps({"status": "completed"}).encode()
    now = int(harness.clock.now().timestamp())
    assert client.post(url, content=body).status_code == 401
    tampered = _signed(body, now)
    assert client.post(url, content=body + b" ", headers=tampered).status_code == 401
    stale = _signed(body, now - 3600, "msg_old")
    assert client.post(url, content=body, headers=stale).status_code == 401
    assert harness.store.get(waiting).next_attempt_at is None
    assert client.post(url, content=body, headers=_signed(body, now)).status_code == 202
    assert harness.store.get(waiting).next_attempt_at == harness.clock.now()


def test_verify_signature_accepts_any_listed_v1_signature() -> None:
    """Several space-separated signatures (key rotation): one valid v1 is enough."""
    body = b"{}"
    now = int(time.time())
    good = sign(SECRET, "m", str(now), body)
    headers = {
        "webhook-id": "m",
        "webhook-timestamp": str(now),
        "webhook-signature": f"v1,bm9wZQ== {good}",
    }
    assert verify_signature(SECRET, headers, body, now)
    headers["webhook-signature"] = "v1,bm9wZQ=="
    assert not verify_signature(SECRET, headers, body, now)
