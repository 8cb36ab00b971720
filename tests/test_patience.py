"""Patience with Sent and with the database: transient failures are ridden out, never looped on."""

from __future__ import annotations

import copy
import logging
import os
import random
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from persistence.db import make_engine
from persistence.migrate import upgrade
from persistence.store import SqlStore
from tests.conftest import Harness
from workflow.adapters.sent_client import HttpxSentApi
from workflow.adapters.vault import FernetVault
from workflow.core.backoff import RetryPolicy
from workflow.core.clock import FakeClock
from workflow.core.errors import StoreError
from workflow.core.spec import OrganizationFacts, parse_spec
from workflow.engine.executor import EngineConfig
from workflow.engine.runner import Worker, drive_until_idle
from workflow.management.onboardings import Onboardings
from workflow.sandbox import FaultConfig


def _copies(samples: dict[str, Any], count: int) -> list[dict[str, Any]]:
    raws = [r for k, r in samples.items() if k != "demo-prerequisite-pause"]
    out = []
    for index in range(count):
        raw = copy.deepcopy(raws[index % len(raws)])
        raw["key"] = f"{raw['key']}-{index}"
        raw["profile"]["name"] = f"{raw['profile']['name']} {index}"
        out.append(raw)
    return out


@pytest.fixture
def patient(harness: Harness) -> Iterator[Worker]:
    """A worker with the default retry policy (the harness's is short, for speed)."""
    config = EngineConfig(
        callback_base_url=harness.receiver_url, poll_interval=2.0, completion_timeout=600,
        retry=RetryPolicy(), organization=OrganizationFacts(whatsapp_has_phone_number=True),
    )  # fmt: skip
    worker = Worker(
        harness.store, harness.api, harness.vault, config=config, clock=harness.clock,
        rng=random.Random(7), concurrency=4,
    )  # fmt: skip
    yield worker
    worker.close()


@pytest.mark.parametrize("database_url_for_test", ["sqlite"], indirect=True)
def test_forty_percent_failing_calls_pause_nothing(
    harness: Harness, samples: dict[str, Any], patient: Worker
) -> None:
    """With 40% of Sent's answers 5xx/429 and the default policy, every onboarding finishes."""
    harness.sandbox.faults.configure(
        FaultConfig(error_rates={500: 0.1, 502: 0.1, 503: 0.1, 429: 0.1}, retry_after=1, seed=5)
    )
    ids = [harness.start(raw) for raw in _copies(samples, 30)]
    drive_until_idle(patient, harness.clock)
    states = {harness.store.get(i).state for i in ids}
    assert states <= {"submitted", "completed"}, states
    retried = sum(1 for i in ids for a in harness.store.attempts(i) if a.outcome == "retry")
    assert retried > 30


@pytest.mark.parametrize("database_url_for_test", ["sqlite"], indirect=True)
def test_a_thirty_minute_outage_pauses_nothing(
    harness: Harness, samples: dict[str, Any], patient: Worker
) -> None:
    """Sent answering 503 to everything for 30 minutes of (fake) time: every onboarding waits it
    out with capped backoff and finishes once Sent is back."""
    ids = [harness.start(raw) for raw in _copies(samples, 10)]
    patient.tick()
    patient.wait_in_flight()  # some are on their way
    harness.sandbox.faults.configure(FaultConfig(error_rates={503: 1.0}))
    back = harness.clock.now().timestamp() + 30 * 60
    longest_wait = 0.0
    while harness.clock.now().timestamp() < back:
        patient.tick()
        patient.wait_in_flight()
        due = harness.store.next_due()
        assert due is not None
        wait = (due - harness.clock.now()).total_seconds()
        longest_wait = max(longest_wait, wait)
        harness.clock.advance(max(wait, 0.5))
    assert {harness.store.get(i).state for i in ids}.isdisjoint({"needs_attention"})
    assert longest_wait <= RetryPolicy().cap + 1
    harness.sandbox.faults.configure(FaultConfig())
    drive_until_idle(patient, harness.clock)
    assert {harness.store.get(i).state for i in ids} <= {"submitted", "completed"}


def test_a_failing_database_is_backed_off_and_until_idle_gives_up(
    tmp_path: Path, samples: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A worker whose database refuses writes backs off (one log line per backoff, growing
    waits) and run(until_idle=True) raises StoreError after the bounded time, not looping."""
    path = tmp_path / "ro.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    store = SqlStore(engine)
    clock = FakeClock()
    vault = FernetVault.generate()
    spec = parse_spec(samples["demo-inherited"], today=clock.now().date())
    Onboardings(store, vault, clock=clock).start(spec)
    engine.dispose()
    os.chmod(path, stat.S_IRUSR)  # read-only file; the URL below makes root honour it too
    readonly = SqlStore(make_engine(f"sqlite:///file:{path}?mode=ro&uri=true"))
    with HttpxSentApi("http://127.0.0.1:9", "k") as api:
        worker = Worker(readonly, api, vault, clock=clock, poll_interval=0.05, db_failure_limit=1.5)
        caplog.set_level(logging.ERROR, logger="workflow.runner")
        with pytest.raises(StoreError, match="kept failing"):
            worker.run(until_idle=True, max_seconds=20)
    lines = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert 1 <= len(lines) <= 6  # one line per backoff, not one per tick (30 ticks a second)
    waits = [float(r.getMessage().rsplit("retrying in ", 1)[1].rstrip("s")) for r in lines]
    assert waits == sorted(waits)
    readonly.engine.dispose()


@pytest.mark.parametrize("database_url_for_test", ["sqlite"], indirect=True)
def test_the_engine_logs_one_line_per_transition_and_pause(
    harness: Harness, samples: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """At INFO the engine writes exactly one line per transition and one per pause, each with
    the onboarding's key, id and profile id; retries stay below INFO."""
    harness.sandbox.faults.configure(FaultConfig(error_rates={503: 0.3}, seed=2))
    done = harness.start(samples["demo-inherited"])
    paused = harness.start(samples["demo-prerequisite-pause"])
    caplog.set_level(logging.INFO)
    harness.run()
    ours = [
        r for r in caplog.records if r.name.startswith("workflow") and r.levelno >= logging.INFO
    ]
    by_id: dict[str, list[logging.LogRecord]] = {}
    for record in ours:
        by_id.setdefault(getattr(record, "onboarding_id", "?"), []).append(record)
    assert set(by_id) == {done, paused}
    for onboarding, records in by_id.items():
        history = harness.store.history(onboarding)[1:]  # the start row is the caller's
        assert [getattr(r, "trigger", None) for r in records] == [t.trigger for t in history]
        row = harness.store.get(onboarding)
        for record in records:
            assert getattr(record, "key", None) == row.key
        assert getattr(records[-1], "profile_id", None) == row.profile_id
    assert by_id[paused][-1].levelno == logging.WARNING


@pytest.mark.parametrize("database_url_for_test", ["sqlite"], indirect=True)
def test_failing_calls_are_logged_each_at_debug_and_once_at_warning(
    harness: Harness, samples: dict[str, Any], patient: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    """A step Sent keeps failing logs every retry at DEBUG (the error and the next try) and one
    WARNING at the fifth attempt, so an outage shows in the default log without a line per try."""
    harness.sandbox.faults.configure(FaultConfig(error_rates={503: 1.0}, seed=1))
    [raw] = _copies(samples, 1)
    onboarding = harness.start(raw)
    caplog.set_level(logging.DEBUG, logger="workflow.engine")
    for _ in range(8):
        patient.tick()
        patient.wait_in_flight()
        harness.clock.advance(150)
    assert harness.store.get(onboarding).attempts >= 6
    failures = [r for r in caplog.records if "create_profile failed (attempt" in r.getMessage()]
    assert [r.levelno for r in failures][:6] == [logging.DEBUG] * 4 + [logging.WARNING] + [
        logging.DEBUG
    ]
    warning = next(r for r in failures if r.levelno == logging.WARNING).getMessage()
    assert "attempt 5, " in warning
    assert "still failing" in warning
    assert getattr(failures[0], "key", None) == raw["key"]
