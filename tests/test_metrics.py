"""Worker metrics: the observer's series, and ``/metrics`` served by ``onboarding worker``."""

from __future__ import annotations

import contextlib
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from tests.cli_process import ONBOARDING, environment, one_line_error, run
from tests.conftest import SAMPLES, Harness
from workflow.adapters.sent_client import HttpxSentApi
from workflow.engine.observing import ENGINE_PAUSE_CODES
from workflow.engine.runner import Worker, drive_until_idle
from workflow.following.metrics import MetricsServer, PrometheusObserver
from workflow.sandbox import FaultConfig, OrganizationConfig, Sandbox, ScriptedFault, free_port

SERIES = (
    "onboarding_transitions_total", "onboarding_api_attempts_total",
    "onboarding_api_attempt_seconds_bucket", "onboarding_retries_total",
    "onboarding_paused_total", "onboarding_step_seconds_bucket",
    "onboarding_completion_wait_seconds_bucket", "onboarding_in_flight",
    "onboarding_worker_heartbeat_age_seconds", "onboarding_oldest_due_age_seconds",
)  # fmt: skip


def observed_worker(h: Harness, observer: PrometheusObserver) -> Worker:
    return Worker(
        h.store, h.api, h.vault, config=h.executor.config, clock=h.clock, rng=random.Random(1),
        concurrency=4, observer=observer,
    )  # fmt: skip


def test_the_observer_counts_what_the_engine_did(harness: Harness, samples: dict[str, Any]) -> None:
    """Transitions, attempts, retries, pauses, steps and completion waits match the database."""
    harness.sandbox.faults.configure(
        FaultConfig(scripted=[ScriptedFault(method="POST", path_contains="/v3/profiles", times=2)])
    )
    observer = PrometheusObserver(next_due=harness.store.next_due, clock=harness.clock)
    worker = observed_worker(harness, observer)
    ids = [harness.start(raw) for raw in samples.values()]
    try:
        drive_until_idle(worker, harness.clock)
    finally:
        worker.close()
    value = observer.registry.get_sample_value
    moves = Counter(
        (h.from_state, h.to_state) for i in ids for h in harness.store.history(i) if h.seq > 1
    )
    for (source, target), count in moves.items():
        labels = {"from_state": source or "none", "to_state": target}
        assert value("onboarding_transitions_total", labels) == count, labels
    attempts = Counter(
        (a.step, a.outcome, str(a.http_status)) for i in ids for a in harness.store.attempts(i)
    )
    for (step, outcome, status), count in attempts.items():
        labels = {"step": step, "outcome": outcome, "status": status}
        assert value("onboarding_api_attempts_total", labels) == count, labels
    assert (
        value(
            "onboarding_api_attempts_total",
            {"step": "create_profile", "outcome": "retry", "status": "503"},
        )
        == 2
    )
    assert value("onboarding_retries_total", {"step": "create_profile"}) == 2
    assert value("onboarding_paused_total", {"code": "PREREQUISITES"}) == 1
    finished = sum(1 for i in ids if harness.store.get(i).state in ("submitted", "completed"))
    assert value("onboarding_completion_wait_seconds_count") == finished == 5
    steps = value("onboarding_step_seconds_count", {"step": "create_profile", "kind": "advance"})
    assert steps == len(ids)
    assert value("onboarding_in_flight") == 0
    assert value("onboarding_oldest_due_age_seconds") == 0


def test_the_oldest_due_age_and_heartbeat_age_follow_the_clock(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """An onboarding due for 90 s reads 90; the heartbeat age is read at scrape time."""
    observer = PrometheusObserver(next_due=harness.store.next_due, clock=harness.clock)
    harness.start(samples["demo-inherited"])
    harness.clock.advance(90)
    value = observer.registry.get_sample_value
    assert value("onboarding_oldest_due_age_seconds") == 90
    observer.worker_ticked(3)
    assert value("onboarding_in_flight") == 3
    assert 0 <= (value("onboarding_worker_heartbeat_age_seconds") or -1) < 60


def test_metrics_are_served_over_http_by_their_own_server() -> None:
    """MetricsServer answers /metrics with the observer's series and frees its port."""
    observer = PrometheusObserver()
    observer.transition("pending", "incomplete", "create_profile")
    with MetricsServer(observer.registry, 0) as server:
        text = httpx.get(server.url, timeout=5).text
    assert 'onboarding_transitions_total{from_state="pending",to_state="incomplete"} 1.0' in text


def test_worker_serves_metrics_while_it_runs(
    tmp_path: Path, sandbox: Sandbox, sandbox_url: str
) -> None:
    """'onboarding worker --metrics-port' answers /metrics with every named series while it
    runs, and stops cleanly on SIGTERM."""
    sandbox.state.organization = OrganizationConfig(completion_delay_seconds=0.0)
    db = f"sqlite:///{tmp_path / 'metrics.db'}"
    env = environment(SENT_BASE_URL=sandbox_url, SENT_DM_API_KEY="sandbox-key",
                      ONBOARDING_POLL_INTERVAL="0.1")  # fmt: skip
    started = run("--db", db, "start", str(SAMPLES), env=env)
    assert started.returncode == 0, started.stderr
    port = free_port()
    process = subprocess.Popen(
        [str(ONBOARDING), "--db", db, "worker", "--metrics-port", str(port),
         "--poll-interval", "0.05"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    text = ""
    try:
        deadline = time.monotonic() + 60
        while not all(name in text for name in SERIES):
            assert time.monotonic() < deadline, f"series missing from /metrics:\n{text}"
            assert process.poll() is None, process.communicate()
            with contextlib.suppress(httpx.TransportError):
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert 'onboarding_transitions_total{from_state="pending",to_state="incomplete"}' in text
    assert f"metrics at http://127.0.0.1:{port}/metrics" in err


def test_a_taken_metrics_port_is_one_line(tmp_path: Path) -> None:
    """A metrics port already in use fails in one line naming the option."""
    db = f"sqlite:///{tmp_path / 'taken.db'}"
    assert run("--db", db, "db", "upgrade").returncode == 0
    with MetricsServer(PrometheusObserver().registry, 0) as taken:
        env = environment(SENT_DM_API_KEY="k")
        result = run("--db", db, "worker", "--metrics-port", str(taken.port), env=env, process=True)
    assert f"metrics port {taken.port} on 127.0.0.1 is already in use" in one_line_error(result)
    assert not (tmp_path / "taken.db.key").exists()


def test_the_core_never_loads_prometheus() -> None:
    """Running onboardings without --metrics-port does not import prometheus_client."""
    code = (
        "import sys, workflow.engine.runner, workflow.engine.executor, workflow.management.onboardings, workflow.cli; "
        "print('prometheus_client' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_labels_take_values_from_bounded_sets(harness: Harness, samples: dict[str, Any]) -> None:
    """Sent refusing 27 creates with 25 undocumented codes, a documented one and a status it
    does not document: the pause counter has two series (the documented code and ``other``),
    and the status label is the documented status or its class."""
    answers = [(400, f"NEW_CODE_{n}") for n in range(25)]
    answers += [(422, "VALIDATION_001"), (418, "TEAPOT_" + "X" * 80)]

    def refuse(request: httpx.Request) -> httpx.Response:
        status, code = answers.pop()
        return httpx.Response(status, json={"error": {"code": code, "message": "refused"}})

    observer = PrometheusObserver(clock=harness.clock)
    api = HttpxSentApi("https://sent.test", "k", transport=httpx.MockTransport(refuse))
    worker = Worker(
        harness.store, api, harness.vault, config=harness.executor.config, clock=harness.clock,
        concurrency=4, observer=observer,
    )  # fmt: skip
    raw = samples["demo-inherited"]
    for n in range(27):
        harness.start({**raw, "key": f"refused-{n}"})
    try:
        drive_until_idle(worker, harness.clock)
    finally:
        worker.close()
        api.close()
    assert answers == []
    paused = _samples(observer, "onboarding_paused_total", "code")
    assert paused == {"other": 26, "VALIDATION_001": 1}
    statuses = _samples(observer, "onboarding_api_attempts_total", "status")
    assert statuses == {"400": 25, "422": 1, "4xx": 1}


def _samples(observer: PrometheusObserver, name: str, label: str) -> dict[str, float]:
    found: Counter[str] = Counter()
    for metric in observer.registry.collect():
        for sample in metric.samples:
            if sample.name == name:
                found[sample.labels[label]] += sample.value
    return dict(found)


def test_every_code_the_engine_pauses_with_is_a_known_label() -> None:
    """A pause code written in the engine's source is one of ENGINE_PAUSE_CODES (so a new one
    is counted under its own name, not as ``other``)."""
    root = Path(__file__).resolve().parent.parent / "workflow"
    pattern = re.compile(r'Pause\(\s*"([A-Z_]+)"|\bFailure\(\s*\w+,\s*"([A-Z_]+)"|or "([A-Z_]+)"')
    found = {
        code
        for path in root.rglob("*.py")
        for match in pattern.finditer(path.read_text(encoding="utf-8"))
        for code in match.groups()
        if code
    }
    assert {"COMMIT_FAILED", "PREREQUISITES", "REJECTED", "SENT_ERROR"} <= found
    assert found <= ENGINE_PAUSE_CODES
