"""``onboarding events forward``: every event, signed, in order, retried until accepted."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.cli_process import ONBOARDING, environment, one_line_error, run
from tests.conftest import Harness
from workflow.adapters.serving import ServerThread

SECRET = "whsec_" + base64.b64encode(b"events-forward-test-secret-0123").decode()


@dataclass
class Receiver:
    """A webhook receiver that verifies signatures and refuses the first deliveries."""

    refuse_first: int
    accepted: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    forged: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        try:
            payload = Webhook(SECRET).verify(body, dict(request.headers))
        except WebhookVerificationError:
            with self.lock:
                self.forged += 1
            return Response(status_code=401)
        with self.lock:
            self.attempts.append(request.headers["webhook-id"])
            if len(self.attempts) <= self.refuse_first:
                return Response(status_code=503)
            assert payload["event_id"] == request.headers["webhook-id"]
            self.accepted.append(payload)
        return Response(status_code=204)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hooks", self.hook, methods=["POST"])])


def db_url(h: Harness) -> str:
    return h.store.engine.url.render_as_string(hide_password=False)


def eventually(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_forward_delivers_every_event_signed_in_order_despite_failures(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Every event reaches the receiver once accepted, signed and in order, after the first
    deliveries failed; the cursor moves only past accepted events; SIGTERM stops cleanly."""
    ids = [harness.start(raw) for raw in samples.values()]
    harness.run()
    total = harness.store.count_events()
    receiver = Receiver(refuse_first=3)
    with ServerThread(receiver.app()) as server:
        process = subprocess.Popen(
            [str(ONBOARDING), "--db", db_url(harness), "events", "forward",
             "--url", f"{server.url}/hooks", "--subscriber", "hooks", "--backoff-cap", "0.2",
             "--poll-interval", "0.05"],
            env=environment(ONBOARDING_EVENTS_SECRET=SECRET), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            eventually(lambda: len(receiver.accepted) >= total)
            # Events made while it runs are forwarded too.
            paused = next(i for i in ids if harness.store.get(i).state == "needs_attention")
            harness.ops.cancel(paused, actor="alice", reason="no longer needed")
            eventually(lambda: len(receiver.accepted) >= total + 1)
        finally:
            process.send_signal(signal.SIGTERM)
            _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert f"forwarder stopped: {total + 1} events delivered" in err
    assert receiver.forged == 0
    first = receiver.accepted[0]["event_id"]
    assert receiver.attempts[:4] == [first] * 4  # refused three times, then accepted
    assert len({p["event_id"] for p in receiver.accepted}) == len(receiver.accepted) == total + 1
    for onboarding_id in ids:
        mine = [
            (p["seq"], p["to_state"])
            for p in receiver.accepted
            if p["onboarding_id"] == onboarding_id
        ]
        assert mine == [(h.seq, h.to_state) for h in harness.store.history(onboarding_id)]
    last = receiver.accepted[-1]
    assert (last["trigger"], last["actor"], last["reason"]) == (
        "cancel",
        "alice",
        "no longer needed",
    )
    assert last["schema_version"] == 1
    assert last["at"].endswith("+00:00")
    positions = {p.name: (p.delivered, p.pending) for p in harness.store.subscribers()}
    assert positions == {"hooks": (total + 1, 0)}


def test_forward_refuses_bad_options_in_one_line(tmp_path: Any) -> None:
    """A malformed secret, URL or subscriber name is refused before anything runs, unechoed."""
    db = f"sqlite:///{tmp_path / 'x.db'}"
    bad_secret = run("--db", db, "events", "forward", "--url", "http://127.0.0.1:9/h",
                     "--secret", "whsec_not base64!")  # fmt: skip
    line = one_line_error(bad_secret)
    assert "--secret" in line
    assert "whsec_" in line
    assert "not base64!" not in line
    bad_url = run("--db", db, "events", "forward", "--url", "ftp://example.com/x",
                  "--secret", SECRET)  # fmt: skip
    assert "must be an absolute http:// or https:// URL" in one_line_error(bad_url)
    bad_name = run("--db", db, "events", "forward", "--url", "http://127.0.0.1:9/h",
                   "--secret", SECRET, "--subscriber", "no spaces")  # fmt: skip
    assert "subscriber name 'no spaces' is not valid" in one_line_error(bad_name)


def test_prune_and_subscribers_commands(harness: Harness, samples: dict[str, Any]) -> None:
    """'events subscribers' shows positions; 'events prune' deletes only handled old events."""
    if harness.store._postgres:
        pytest.skip("the command's clock is the real one; one backend shows it")
    harness.start(samples["demo-inherited"])
    events = harness.store.read_events("ops", 10, harness.clock.now())
    harness.store.ack_events("ops", events[-1].position, len(events), harness.clock.now())
    harness.start(samples["demo-own-brand-tcr"])
    listed = run("--db", db_url(harness), "events", "subscribers", "--json")
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row.pop("updated_at").endswith("+00:00")
    assert row == {
        "schema_version": 1, "kind": "subscriber", "subscriber": "ops", "delivered": 1,
        "pending": 1,
    }  # fmt: skip
    # The clock of the test run stands at the real time: both events are older than 0s.
    pruned = run("--db", db_url(harness), "events", "prune", "--older-than", "0s")
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout.startswith("pruned 1 events from before ")
    assert harness.store.count_events() == 1
    bad = run("--db", db_url(harness), "events", "prune", "--older-than", "7 days")
    assert "'7 days' is not a duration" in one_line_error(bad)
    dropped = run("--db", db_url(harness), "events", "drop", "ops")
    assert dropped.stdout.strip() == "dropped subscriber ops"
    assert "no subscriber named 'ops'" in one_line_error(
        run("--db", db_url(harness), "events", "drop", "ops")
    )
