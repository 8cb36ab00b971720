"""Replies no database can store, and commits the database refuses: a few attempts with backoff
and a pause, never a hot loop that resends the create (with its card data) at once."""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from persistence.store import SqlStore
from tests.conftest import Harness, with_key
from workflow.adapters.sent_client import HttpxSentApi
from workflow.core.backoff import RetryPolicy
from workflow.engine.executor import EngineConfig
from workflow.engine.holds import HOLD_CAP, HOLD_GIVE_UP
from workflow.engine.runner import Worker, drive_until_idle

LONG_CODE = "E" * 100
LONG_REQUEST_ID = "req_" + "9" * 96
#: Error bodies as Sent might send them, written as raw JSON text (escapes and all).
BROKEN_BODIES = {
    "long code, lone surrogate": (
        '{"success": false, "data": null, "error": {"code": "' + LONG_CODE + '", '
        '"message": "Service unavailable \\ud800 retry later"}, "meta": {"request_id": "r1"}}'
    ),
    "long request id": (
        '{"success": false, "data": null, "error": {"code": "INTERNAL_001", "message": "down"}, '
        '"meta": {"request_id": "' + LONG_REQUEST_ID + '"}}'
    ),
    "NUL in message and details": (
        '{"success": false, "data": null, "error": {"code": "INTERNAL_001", '
        '"message": "down\\u0000now", "details": {"na\\u0000me": ["x\\u0000", 7, {"deep": [1]}]}},'
        ' "meta": {"request_id": "r1"}}'
    ),
}


class _Creates:
    """A Sent whose creates fail with one raw body; every other call goes to the sandbox."""

    def __init__(self, body: str, upstream_url: str) -> None:
        self.body = body.encode()
        self.posts = 0
        self._upstream = httpx.Client(base_url=upstream_url)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/v3/profiles":
            self.posts += 1
            return httpx.Response(
                503, content=self.body, headers={"content-type": "application/json"}
            )
        return _forward(self._upstream, request)

    def close(self) -> None:
        self._upstream.close()


def _forward(upstream: httpx.Client, request: httpx.Request) -> httpx.Response:
    reply = upstream.request(
        request.method, request.url.path, params=request.url.params,
        headers=request.headers, content=request.content,
    )  # fmt: skip
    return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)


@pytest.fixture
def engine_lines(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """The engine's and the worker's log lines, every level."""
    caplog.set_level(logging.DEBUG, logger="workflow")
    return lambda: [r.getMessage() for r in caplog.records if r.name.startswith("workflow")]


@pytest.mark.parametrize("name", sorted(BROKEN_BODIES))
def test_an_error_body_no_database_can_store_gives_a_few_attempts_then_a_pause(
    harness: Harness,
    samples: dict[str, Any],
    sandbox_url: str,
    engine_lines: Callable[[], list[str]],
    name: str,
) -> None:
    """Sent answering the create 503 with a 100-character code, a lone surrogate, a NUL or a
    100-character request id: each attempt is committed, cleaned and cut to its columns, and
    the retry budget ends in a pause. No hot loop: a bounded number of POSTs and log lines."""
    sent = _Creates(BROKEN_BODIES[name], sandbox_url)
    harness.executor.api = HttpxSentApi(
        sandbox_url, "sandbox-key", transport=httpx.MockTransport(sent)
    )
    onboarding = harness.start(samples["demo-inherited"])
    drive_until_idle(harness.worker, harness.clock, max_ticks=300)
    sent.close()
    budget = harness.executor.config.retry.max_attempts
    assert sent.posts == budget
    row = harness.store.get(onboarding)
    assert (row.state, row.paused_from) == ("needs_attention", "pending")
    assert row.last_error is not None
    attempts = harness.store.attempts(onboarding)
    assert len(attempts) == budget
    for attempt in attempts:
        assert attempt.http_status == 503
        assert len(attempt.error_code or "") <= 64
        assert len(attempt.request_id or "") <= 64
        assert "\x00" not in (attempt.message or "")
    if name == "long code, lone surrogate":
        assert row.last_error["code"] == "E" * 63 + "\u2026"
        assert row.last_error["message"] == "Service unavailable \ufffd retry later"
    if name == "long request id":
        assert row.last_error["request_id"] == LONG_REQUEST_ID[:63] + "\u2026"
    if name == "NUL in message and details":
        assert row.last_error["message"] == "down\ufffdnow"
        assert row.last_error["details"] == {"na\ufffdme": ["x\ufffd", "7", '{"deep": [1]}']}
    assert len(engine_lines()) <= 2 * budget


class _LongRequestIds:
    """Forwards to the sandbox; the create's reply carries a 100-character request id."""

    def __init__(self, upstream_url: str) -> None:
        self._upstream = httpx.Client(base_url=upstream_url)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        reply = _forward(self._upstream, request)
        if request.method == "POST" and request.url.path == "/v3/profiles":
            payload = reply.json()
            payload["meta"]["request_id"] = LONG_REQUEST_ID
            return httpx.Response(reply.status_code, json=payload)
        return reply

    def close(self) -> None:
        self._upstream.close()


def test_a_created_profile_whose_reply_has_a_long_request_id_is_recorded(
    harness: Harness, samples: dict[str, Any], sandbox_url: str
) -> None:
    """The create succeeds at Sent and its reply carries a 100-character request id: the
    profile is recorded (attempt, checkpoint, audit row), once, and the onboarding finishes."""
    forward = _LongRequestIds(sandbox_url)
    harness.executor.api = HttpxSentApi(
        sandbox_url, "sandbox-key", transport=httpx.MockTransport(forward)
    )
    onboarding = harness.start(samples["demo-inherited"])
    drive_until_idle(harness.worker, harness.clock, max_ticks=300)
    forward.close()
    row = harness.store.get(onboarding)
    (profile,) = harness.sent_profiles()
    assert (row.state, row.profile_id) == ("completed", profile["id"])
    (create,) = [a for a in harness.store.attempts(onboarding) if a.path == "/v3/profiles"]
    assert (create.resource_id, create.request_id) == (
        profile["id"],
        LONG_REQUEST_ID[:63] + "\u2026",
    )
    (created,) = [t for t in harness.store.history(onboarding) if t.trigger == "create_profile"]
    assert created.request_id == LONG_REQUEST_ID[:63] + "\u2026"


def _refuse(store: SqlStore, name: str, table: str, event: str, condition: str) -> None:
    """A trigger that makes the database itself refuse some writes (a real failing commit)."""
    with store.engine.begin() as connection:
        if store.engine.dialect.name == "sqlite":
            connection.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE {event} ON {table} WHEN {condition} "
                    "BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END"
                )
            )
            return
        connection.execute(
            text(
                f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'refused by a test trigger'; END $$ LANGUAGE plpgsql"
            )
        )
        connection.execute(
            text(
                f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW "
                f"WHEN ({condition}) EXECUTE FUNCTION {name}()"
            )
        )


def _creates(harness: Harness) -> int:
    """POSTs of a profile Sent executed or replayed."""
    counts = harness.sandbox.snapshot()["mutations"]
    return int(counts.get("create_profile executed", 0) + counts.get("create_profile replayed", 0))


def test_a_commit_the_database_refuses_is_retried_with_backoff_then_pauses(
    harness: Harness, samples: dict[str, Any], engine_lines: Callable[[], list[str]]
) -> None:
    """The create succeeds at Sent but its outcome cannot be committed: each failure is an
    attempt with backoff (the create replays under its key, one profile at Sent), and after the
    short budget the onboarding pauses with COMMIT_FAILED. The transition that never happened
    is never logged."""
    _refuse(
        harness.store, "refuse_created", "step_records", "INSERT",
        "NEW.item = 'profile' AND NEW.done",
    )  # fmt: skip
    onboarding = harness.start(samples["demo-inherited"])
    drive_until_idle(harness.worker, harness.clock, max_ticks=300)
    row = harness.store.get(onboarding)
    assert (row.state, row.paused_from, row.profile_id) == ("needs_attention", "pending", None)
    assert row.last_error is not None
    assert row.last_error["code"] == "COMMIT_FAILED"
    assert "refused by a test trigger" in row.last_error["message"]
    budget = harness.executor.config.retry.max_unexpected
    assert row.last_error["attempts"] == budget
    creates = [a for a in harness.store.attempts(onboarding) if a.path == "/v3/profiles"]
    assert len(creates) == budget
    (profile,) = harness.sent_profiles()  # every resend replayed under the same key
    assert {a.resource_id for a in creates} == {profile["id"]}
    assert harness.sandbox.snapshot()["mutations"]["create_profile executed"] == 1
    lines = engine_lines()
    assert not [line for line in lines if "pending -> incomplete" in line]
    assert len(lines) <= 3 * budget


def test_when_not_even_the_failure_can_be_committed_the_worker_keeps_it_aside(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Every commit of the onboarding is refused (its failure too): the worker keeps it aside
    in memory for a doubling backoff, claims skip it meanwhile (one create per backoff, not a
    loop), and after HOLD_GIVE_UP failed runs the worker no longer waits for it to be idle."""
    onboarding = harness.start(samples["demo-inherited"])
    _refuse(
        harness.store, "refuse_commits", "onboardings", "UPDATE",
        # A commit moves the version on without taking the lease (a claim takes it).
        "NEW.version > OLD.version AND (NEW.lease_owner IS NULL "
        "OR NEW.lease_owner IS NOT DISTINCT FROM OLD.lease_owner)",
    )  # fmt: skip
    worker = harness.worker
    creates = functools.partial(_creates, harness)
    worker.tick()
    worker.wait_in_flight()
    assert creates() == 1
    for _ in range(20):  # due all along, but kept aside: not claimed again
        assert worker.tick() == 0
        worker.wait_in_flight()
    assert creates() == 1
    assert not worker.is_idle()
    harness.clock.advance(HOLD_CAP)
    assert worker.tick() == 1
    worker.wait_in_flight()
    assert creates() == 2
    drive_until_idle(worker, harness.clock, max_ticks=50)
    assert creates() == HOLD_GIVE_UP
    assert worker.given_up() == [onboarding]
    row = harness.store.get(onboarding)
    assert (row.state, row.attempts) == ("pending", 0)  # nothing could be written
    assert row.next_attempt_at is not None  # still due: only this worker gave up waiting


@pytest.mark.parametrize("database_url_for_test", ["sqlite"], indirect=True)
def test_worker_until_idle_ends_on_broken_error_bodies(
    harness: Harness, samples: dict[str, Any], sandbox_url: str
) -> None:
    """``run(until_idle=True)`` on the real clock ends once the onboarding is paused (before,
    it re-claimed the onboarding at once, forever)."""
    sent = _Creates(BROKEN_BODIES["long code, lone surrogate"], sandbox_url)
    api = HttpxSentApi(sandbox_url, "sandbox-key", transport=httpx.MockTransport(sent))
    config = EngineConfig(retry=RetryPolicy(initial=0.01, cap=0.05, max_attempts=4))
    worker = Worker(harness.store, api, harness.vault, config=config, rng=random.Random(3))
    onboarding = harness.start(samples["demo-inherited"])
    assert worker.run(until_idle=True, max_seconds=60)
    api.close()
    sent.close()
    assert sent.posts == 4
    assert harness.store.get(onboarding).state == "needs_attention"


def test_claims_skip_the_onboardings_named(harness: Harness, samples: dict[str, Any]) -> None:
    """``claim(skip=...)`` leaves those onboardings unclaimed, whatever the number skipped."""
    ids = [harness.start(with_key(samples["demo-inherited"], f"skip-{n}")) for n in range(5)]
    now = harness.clock.now()
    for skipped in ([], ids[:1], ids[:3], ids):
        claimed = harness.store.claim("w", now, 60, 10, skip=skipped)
        assert sorted(c.checkpoint.id for c in claimed) == sorted(set(ids) - set(skipped))
        for claim in claimed:
            harness.store.release(claim.checkpoint.id, "w")


@pytest.fixture(autouse=True)
def _no_leftover_triggers(harness: Harness) -> Iterator[None]:
    yield
    if harness.store.engine.dialect.name == "postgresql":
        with harness.store.engine.begin() as connection:
            for name in ("refuse_created", "refuse_commits"):
                connection.execute(text(f"DROP FUNCTION IF EXISTS {name}() CASCADE"))


class _CancelledMeanwhile:
    """Sent's create succeeds, and an operator cancels the onboarding before it is committed."""

    def __init__(self, harness: Harness, onboarding: str) -> None:
        self._api = harness.executor.api
        self._cancel = lambda: harness.ops.cancel(onboarding, actor="ops", reason="not needed")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    def create_profile(self, body: Any, *, idempotency_key: str) -> Any:
        created = self._api.create_profile(body, idempotency_key=idempotency_key)
        self._cancel()
        return created


def test_a_transition_that_lost_the_race_is_not_logged(
    harness: Harness, samples: dict[str, Any], engine_lines: Callable[[], list[str]]
) -> None:
    """An operator's cancel commits while the create is in flight: the engine's outcome is a
    conflict, so no "pending -> incomplete" line says it moved; the profile Sent answered is
    kept with the attempt."""
    onboarding = harness.start(samples["demo-inherited"])
    harness.executor.api = _CancelledMeanwhile(harness, onboarding)  # type: ignore[assignment]
    report = harness.executor.run_once(onboarding)
    assert report.kind == "conflict"
    assert harness.store.get(onboarding).state == "cancelled"
    assert not [line for line in engine_lines() if "->" in line]
    (profile,) = harness.sent_profiles()
    assert harness.store.resource_ids(onboarding, "create_profile") == [profile["id"]]
