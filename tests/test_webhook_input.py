"""The callback receiver refuses malformed input with a 4xx and changes nothing, on every
database; store calls do not hold up the event loop; log lines cannot be forged."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import Harness
from workflow.engine.callbacks import MAX_DEPTH, create_callback_app
from workflow.sandbox import ServerThread


@pytest.fixture
def waiting(harness: Harness, samples: dict[str, Any]) -> str:
    onboarding = harness.start(samples["demo-inherited"])
    harness.force(onboarding, state="complete", next_attempt_at=None, wake_on_callback=True)
    return onboarding


@pytest.fixture
def http(harness: Harness) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=harness.receiver_url, timeout=10) as client:
        yield client


def _path(harness: Harness, onboarding: str) -> str:
    return harness.executor.callback_url(onboarding).removeprefix(harness.receiver_url)


def _nested(depth: int) -> bytes:
    return b'{"a": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


MALFORMED: dict[str, tuple[bytes, dict[str, str], int, str]] = {
    "long webhook-id": (
        b'{"status": "completed"}',
        {"webhook-id": "m" * 129},
        400,
        "webhook-id must be 1 to 128",
    ),
    "empty webhook-id": (
        b'{"status": "completed"}',
        {"webhook-id": ""},
        400,
        "webhook-id must be 1 to 128",
    ),
    "long status": (
        b'{"status": "' + b"s" * 33 + b'"}',
        {},
        400,
        "status must be a string of at most 32",
    ),
    "numeric status": (b'{"status": 7}', {}, 400, "status must be a string"),
    "NUL in status": (b'{"status": "compl\\u0000eted"}', {}, 400, "NUL character"),
    "NUL in a key": (b'{"st\\u0000atus": "completed"}', {}, 400, "NUL character"),
    "NUL in a nested value": (
        b'{"status": "completed", "x": ["\\u0000"]}',
        {},
        400,
        "NUL character",
    ),
    "unpaired surrogate": (b'{"status": "\\ud800"}', {}, 400, "unpaired surrogate"),
    "NaN": (b'{"status": "completed", "score": NaN}', {}, 400, "NaN is not JSON"),
    "Infinity": (b'{"score": Infinity}', {}, 400, "Infinity is not JSON"),
    "-Infinity": (b'{"score": -Infinity}', {}, 400, "-Infinity is not JSON"),
    "overflowing float": (b'{"score": 1e999}', {}, 400, "out of range"),
    "huge integer": (b'{"score": ' + b"9" * 5000 + b"}", {}, 400, "not valid JSON"),
    "deep nesting": (_nested(MAX_DEPTH + 1), {}, 400, f"nested deeper than {MAX_DEPTH}"),
    "very deep nesting": (_nested(20_000), {}, 400, f"nested deeper than {MAX_DEPTH}"),
    "array": (b'["completed"]', {}, 400, "must be a JSON object"),
    "string": (b'"completed"', {}, 400, "must be a JSON object"),
    "null": (b"null", {}, 400, "must be a JSON object"),
    "empty": (b"", {}, 400, "not valid JSON"),
    "not JSON": (b"not json", {}, 400, "not valid JSON"),
    "invalid UTF-8": (b'{"status": "\xff\xfe"}', {}, 400, "not valid UTF-8"),
    "UTF-8 encoded surrogate": (b'{"status": "\xed\xa0\x80"}', {}, 400, "not valid UTF-8"),
}


@pytest.mark.parametrize(("body", "headers", "status", "reason"), MALFORMED.values(), ids=MALFORMED)
def test_malformed_callback_is_refused_and_changes_nothing(
    harness: Harness, waiting: str, http: httpx.Client,
    body: bytes, headers: dict[str, str], status: int, reason: str,
) -> None:  # fmt: skip
    """Each malformed callback gets a 4xx naming the rule; the store is untouched and still
    takes the next good callback."""
    before = harness.store.get(waiting)
    reply = http.post(_path(harness, waiting), content=body, headers=headers)
    assert reply.status_code == status, reply.text
    assert reason in reply.json()["reason"]
    after = harness.store.get(waiting)
    assert (after.version, after.next_attempt_at) == (before.version, before.next_attempt_at)
    assert harness.store.callbacks(waiting) == []
    good = http.post(
        _path(harness, waiting), json={"status": "completed"}, headers={"webhook-id": "m" * 128}
    )
    assert good.status_code == 202, good.text
    assert [c["webhook_id"] for c in harness.store.callbacks(waiting)] == ["m" * 128]


def test_store_knows_which_onboardings_exist(harness: Harness, waiting: str) -> None:
    """has_onboarding is true for a stored id and false for any other."""
    assert harness.store.has_onboarding(waiting)
    assert not harness.store.has_onboarding("f" * 32)
    assert not harness.store.has_onboarding("x" * 300)


def test_nesting_at_the_limit_is_accepted(
    harness: Harness, waiting: str, http: httpx.Client
) -> None:
    """A body nested exactly MAX_DEPTH levels deep is stored."""
    reply = http.post(_path(harness, waiting), content=_nested(MAX_DEPTH))
    assert reply.status_code == 202, reply.text
    assert len(harness.store.callbacks(waiting)) == 1


@pytest.mark.parametrize("database_url_for_test", ["sqlite"], indirect=True)
def test_body_limit_is_configurable_and_checked_streaming(harness: Harness, waiting: str) -> None:
    """Past max_body_bytes, announced or streamed, the answer is 413; at the limit it is stored."""
    app = create_callback_app(harness.store, harness.vault, max_body_bytes=40)
    path = _path(harness, waiting)
    exact = b'{"status": "completed", "pad": "xxxxxx"}'
    assert len(exact) == 40
    with ServerThread(app) as server, httpx.Client(base_url=server.url) as client:
        announced = client.post(path, content=exact + b" ")
        streamed = client.post(path, content=iter([exact[:20], exact[20:], b" "]))
        assert (announced.status_code, streamed.status_code) == (413, 413)
        assert announced.headers["connection"] == "close"
        assert harness.store.callbacks(waiting) == []
        assert client.post(path, content=iter([exact[:20], exact[20:]])).status_code == 202
    assert len(harness.store.callbacks(waiting)) == 1


def test_url_is_checked_before_the_database(
    harness: Harness, waiting: str, http: httpx.Client
) -> None:
    """A malformed id is unknown, a bad token is refused, and a well-formed id with a genuine
    token that names no onboarding is unknown."""
    token = harness.vault.callback_token(waiting)
    absent = "f" * 32
    replies = {
        "short": http.post(f"/callbacks/{waiting[:31]}?token={token}", json={}),
        "upper": http.post(f"/callbacks/{waiting.upper()}?token={token}", json={}),
        "bad token": http.post(f"/callbacks/{waiting}?token={token[:-1]}", json={}),
        "no token": http.post(f"/callbacks/{waiting}", json={}),
        "absent": http.post(
            f"/callbacks/{absent}?token={harness.vault.callback_token(absent)}", json={}
        ),
    }
    assert {k: r.status_code for k, r in replies.items()} == {
        "short": 404, "upper": 404, "bad token": 403, "no token": 403, "absent": 404,
    }  # fmt: skip
    assert harness.store.callbacks(waiting) == []


@pytest.mark.parametrize("database_url_for_test", ["sqlite"], indirect=True)
def test_newline_in_the_path_cannot_forge_a_log_line(
    harness: Harness, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    """A %0A in the onboarding id is logged escaped, in exactly one single-line record."""
    forged = "abc%0A2026-05-01 09:00:00 INFO workflow.engine.callbacks: callback accepted"
    with caplog.at_level(logging.INFO, logger="workflow.webhook"):
        assert http.post(f"/callbacks/{forged}?token=x", json={}).status_code == 404
    (record,) = [r for r in caplog.records if r.name == "workflow.webhook"]
    message = record.getMessage()
    assert "\n" not in message
    assert "abc\\n2026-05-01" in message
    assert caplog.text.count("\n") == 1


@pytest.mark.postgres
@pytest.mark.parametrize("database_url_for_test", ["postgres"], indirect=True)
def test_slow_store_call_does_not_stall_other_callbacks(
    harness: Harness, waiting: str, http: httpx.Client
) -> None:
    """While one callback waits on a locked row, another request is still answered."""
    blocked: dict[str, httpx.Response] = {}
    with harness.store.engine.connect() as holder:
        holder.execute(
            text("SELECT id FROM onboardings WHERE id = :id FOR UPDATE"), {"id": waiting}
        )

        def first() -> None:
            with httpx.Client(base_url=harness.receiver_url, timeout=30) as other:
                blocked["reply"] = other.post(_path(harness, waiting), json={"status": "done"})

        thread = threading.Thread(target=first)
        thread.start()
        _wait_for_lock_waiter(harness)
        absent = "f" * 32
        answered = http.post(
            f"/callbacks/{absent}?token={harness.vault.callback_token(absent)}",
            json={},
            timeout=5,
        )
        assert answered.status_code == 404
        assert thread.is_alive()
        assert "reply" not in blocked
        holder.rollback()
    thread.join(timeout=30)
    assert blocked["reply"].status_code == 202


def _wait_for_lock_waiter(harness: Harness) -> None:
    """Until a session of this database waits on a row lock (the first callback's insert)."""
    deadline = time.monotonic() + 10
    with harness.store.engine.connect() as probe:
        while time.monotonic() < deadline:
            waiting = probe.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            probe.rollback()
            if waiting:
                return
            time.sleep(0.01)
    raise AssertionError("the first callback never waited on the locked row")
