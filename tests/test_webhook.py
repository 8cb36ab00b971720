"""The callback receiver with a signing secret: Standard Webhooks signatures, checked by the
``standardwebhooks`` library against the injected clock."""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from standardwebhooks import Webhook, WebhookVerificationError

from persistence.store import SqlStore
from tests.conftest import Harness
from workflow.adapters.sent_client import HttpxSentApi
from workflow.adapters.vault import FernetVault
from workflow.core.backoff import RetryPolicy
from workflow.core.clock import FakeClock
from workflow.core.spec import OrganizationFacts, parse_spec
from workflow.engine.callbacks import TIMESTAMP_TOLERANCE, create_callback_app
from workflow.engine.executor import EngineConfig
from workflow.engine.runner import Worker
from workflow.flows import TERMINAL_STATES
from workflow.management.onboardings import Onboardings
from workflow.sandbox import OrganizationConfig, Sandbox, ServerThread, sign

SECRET = "whsec_dGVzdC1zZWNyZXQ="

# The published test vector of the Standard Webhooks specification.
REFERENCE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
REFERENCE_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
REFERENCE_STAMP = 1614265330
REFERENCE_BODY = b'{"test": 2432232314}'
REFERENCE_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.fixture
def waiting(harness: Harness, samples: dict[str, Any]) -> str:
    onboarding = harness.start(samples["demo-inherited"])
    harness.force(onboarding, state="complete", next_attempt_at=None, wake_on_callback=True)
    return onboarding


def _path(harness: Harness, onboarding: str) -> str:
    return harness.executor.callback_url(onboarding).removeprefix(
        harness.executor.config.callback_base_url
    )


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
    url = _path(harness, waiting)
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


def test_sandbox_signature_matches_the_reference_vector() -> None:
    """The sandbox's signing reproduces the Standard Webhooks reference signature."""
    assert (
        sign(REFERENCE_SECRET, REFERENCE_ID, str(REFERENCE_STAMP), REFERENCE_BODY)
        == REFERENCE_SIGNATURE
    )


OTHER = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
VECTOR_CASES = {
    "at its time": (0, REFERENCE_BODY, REFERENCE_SIGNATURE, 202),
    "4 minutes later": (240, REFERENCE_BODY, REFERENCE_SIGNATURE, 202),
    "10 minutes later": (600, REFERENCE_BODY, REFERENCE_SIGNATURE, 401),
    "10 minutes earlier": (-600, REFERENCE_BODY, REFERENCE_SIGNATURE, 401),
    "one byte changed": (0, b'{"test": 2432232315}', REFERENCE_SIGNATURE, 401),
    "among several": (0, REFERENCE_BODY, f"v2,abc {OTHER} {REFERENCE_SIGNATURE}", 202),
    "only others": (0, REFERENCE_BODY, f"v2,abc {OTHER}", 401),
    "garbled": (0, REFERENCE_BODY, "v1", 401),
}


@pytest.mark.parametrize(
    ("offset", "body", "signature", "expected"), VECTOR_CASES.values(), ids=VECTOR_CASES
)
def test_reference_vector(
    harness: Harness, waiting: str, offset: int, body: bytes, signature: str, expected: int
) -> None:
    """The reference callback is accepted within the tolerance, intact, among other signatures."""
    clock = FakeClock(datetime.fromtimestamp(REFERENCE_STAMP + offset, UTC))
    app = create_callback_app(
        harness.store, harness.vault, signing_secret=REFERENCE_SECRET, clock=clock
    )
    headers = {
        "webhook-id": REFERENCE_ID,
        "webhook-timestamp": str(REFERENCE_STAMP),
        "webhook-signature": signature,
    }
    with ServerThread(app) as server, httpx.Client(base_url=server.url) as http:
        reply = http.post(_path(harness, waiting), content=body, headers=headers)
    assert reply.status_code == expected, reply.text
    callbacks = harness.store.callbacks(waiting)
    if expected == 202:
        assert [(c["webhook_id"], c["payload"]) for c in callbacks] == [
            (REFERENCE_ID, {"test": 2432232314})
        ]
        assert harness.store.get(waiting).next_attempt_at == clock.now()
    else:
        assert callbacks == []
        assert harness.store.get(waiting).next_attempt_at is None


def test_tolerance_is_the_librarys() -> None:
    """The library's own verify() accepts a message just inside our tolerance and refuses one
    just outside it, so the receiver's clocked check uses the same window."""
    webhook = Webhook(REFERENCE_SECRET)
    margin = timedelta(seconds=20)  # far above the time this test takes
    for age, accepted in ((TIMESTAMP_TOLERANCE - margin, True), (TIMESTAMP_TOLERANCE + margin, False)):  # fmt: skip
        for direction in (-1, 1):
            moment = datetime.now(UTC) + direction * age
            headers = {
                "webhook-id": "msg_tolerance",
                "webhook-timestamp": str(int(moment.timestamp())),
                "webhook-signature": webhook.sign("msg_tolerance", moment, "{}"),
            }
            if accepted:
                assert webhook.verify("{}", headers) == {}
            else:
                with pytest.raises(WebhookVerificationError, match="timestamp too"):
                    webhook.verify("{}", headers)


@pytest.mark.parametrize("database_url_for_test", ["sqlite"], indirect=True)
@pytest.mark.parametrize("secret", ["whsec_", "whsec_!!!", "whsec_abc*"])
def test_unusable_signing_secret_is_refused_at_creation(store: SqlStore, secret: str) -> None:
    """A secret that is not base64 after whsec_ fails when the app is built, naming the field."""
    with pytest.raises(ValueError, match="signing_secret must be 'whsec_' followed by"):
        create_callback_app(store, FernetVault.generate(), signing_secret=secret)
    with pytest.raises(ValueError, match="signing_secret must be 'whsec_' followed by"):
        Sandbox(signing_secret=secret)


def test_signed_callback_finishes_onboarding_before_the_poll(
    store: SqlStore, clock: FakeClock, samples: dict[str, Any]
) -> None:
    """With polls ten minutes apart and the clock frozen, Sent's signed callback alone makes the
    waiting onboarding due, and it finishes."""
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    sandbox = Sandbox(
        OrganizationConfig(completion_delay_seconds=0.2), clock=clock, signing_secret=secret
    )
    vault = FernetVault.generate()
    receiver_app = create_callback_app(store, vault, signing_secret=secret, clock=clock)
    with (
        ServerThread(sandbox.app) as sent,
        ServerThread(receiver_app) as receiver,
        HttpxSentApi(sent.url, "sandbox-key", timeout=5) as api,
    ):
        config = EngineConfig(
            callback_base_url=receiver.url, poll_interval=600, completion_timeout=3600,
            retry=RetryPolicy(initial=0.5, cap=10, max_attempts=12, max_elapsed=3600),
            organization=OrganizationFacts(whatsapp_has_phone_number=True),
        )  # fmt: skip
        worker = Worker(
            store, api, vault, config=config, clock=clock, rng=random.Random(1), concurrency=2,
            lease_seconds=60,
        )  # fmt: skip
        started = clock.now()
        spec = parse_spec(samples["demo-inherited"], today=started.date())
        onboarding = Onboardings(store, vault, clock=clock).start(spec).id
        deadline = time.monotonic() + 20
        try:
            while store.get(onboarding).state not in TERMINAL_STATES:
                assert time.monotonic() < deadline, f"still {store.get(onboarding).state}"
                worker.tick()
                worker.wait_in_flight()
                time.sleep(0.01)  # the completion runs in the sandbox, in real time
        finally:
            worker.close()
            sandbox.close()
    row = store.get(onboarding)
    assert (row.state, row.actual_outcome) == ("completed", "completed")
    assert clock.now() == started
    (callback,) = store.callbacks(onboarding)
    assert callback["status"] == "completed"


def test_commands_refuse_an_unusable_signing_secret(tmp_path: Path, sqlite_store: SqlStore) -> None:
    """The worker and the sandbox say in one line, without a traceback, that the secret is bad."""
    env = {**os.environ, "ONBOARDING_SECRET_KEY": Fernet.generate_key().decode()}
    base = [sys.executable, "-m", "workflow", "--db", str(sqlite_store.engine.url)]
    commands = [
        [*base, "--api-url", "http://127.0.0.1:9", "--api-key", "k", "worker",
         "--serve-callbacks", "--until-idle", "--signing-secret", "whsec_!!!"],
        [*base, "sandbox", "serve", "--port", "9", "--signing-secret", "whsec_not base64"],
    ]  # fmt: skip
    for command in commands:
        result = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
        )
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.splitlines()[-1:] == [
            "error: signing_secret must be 'whsec_' followed by a non-empty base64 key"
        ]
