"""Black-box: the ``onboarding`` command against the sandbox, as operators run it."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import workflow
from workflow.machine import TransitionRecord, replay
from workflow.sandbox import FaultConfig, OrganizationConfig, Sandbox, ServerThread


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, str]]:
    box = Sandbox(OrganizationConfig(completion_delay_seconds=0.1))
    with ServerThread(box.app) as server:
        yield box, server.url
    box.close()


class Cli:
    """Runs ``python -m workflow`` with one database and one sandbox."""

    def __init__(self, tmp_path: Path, api_url: str) -> None:
        self.db = f"sqlite:///{tmp_path / 'cli.db'}"
        self.env = {
            **os.environ, "ONBOARDING_SECRET_KEY": "x" * 43 + "=", "ONBOARDING_POLL_INTERVAL": "0.2",
            "ONBOARDING_CALLBACK_BASE_URL": "http://127.0.0.1:9", "COLUMNS": "200",
        }  # fmt: skip
        from cryptography.fernet import Fernet

        self.env["ONBOARDING_SECRET_KEY"] = Fernet.generate_key().decode()
        self.base = [
            sys.executable,
            "-m",
            "workflow",
            "--db",
            self.db,
            "--api-url",
            api_url,
            "--api-key",
            "sandbox-key",
        ]

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.base, *args], capture_output=True, text=True, env=self.env, timeout=120
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*self.base, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.env
        )


def _specs(tmp_path: Path, samples: dict[str, Any], copies: int = 1) -> Path:
    documents = []
    for index in range(copies):
        for key, raw in samples.items():
            spec = json.loads(json.dumps(raw))
            spec["key"] = f"{key}-{index}"
            spec["profile"]["name"] = f"{spec['profile']['name']} {index}"
            documents.append(spec)
    path = tmp_path / "specs.yaml"
    path.write_text(yaml.safe_dump(documents))
    return path


def test_worker_refuses_an_out_of_date_schema(tmp_path: Path, served: tuple[Sandbox, str]) -> None:
    """Without 'db upgrade' the worker exits 1 and says which command fixes it."""
    result = Cli(tmp_path, served[1])("worker", "--until-idle", check=False)
    assert result.returncode == 1
    assert "onboarding db upgrade" in result.stderr


def test_operator_workflow_through_the_cli(
    tmp_path: Path, served: tuple[Sandbox, str], samples: dict[str, Any]
) -> None:
    """upgrade, start (twice), worker --until-idle, show, history, stuck, resume, rewind, cancel, export."""
    sandbox, url = served
    cli = Cli(tmp_path, url)
    cli("db", "upgrade")
    specs = _specs(tmp_path, samples)
    first = cli("start", str(specs)).stdout
    again = cli("start", str(specs)).stdout
    assert [line.split(" (")[0] for line in again.splitlines()] == [
        line.split(" (")[0] for line in first.splitlines()
    ]  # idempotent on keys: the same ids, nothing new
    assert again.count("already started") == len(samples)
    cli("worker", "--until-idle", "--concurrency", "4", "--poll-interval", "0.05")
    shown = json.loads(cli("show", "demo-own-brand-tcr-0", "--json").stdout)
    assert (shown["state"], shown["predicted_outcome"], shown["actual_outcome"]) == (
        "submitted",
        "submitted",
        "submitted",
    )
    lines = cli("history", "demo-own-brand-tcr-0", "--json", "--attempts").stdout.splitlines()
    history: dict[str, list[dict[str, Any]]] = {"transition": [], "attempt": []}
    for line in map(json.loads, lines):
        history[line["kind"]].append(line)
    assert [t["to_state"] for t in history["transition"]] == [
        "pending",
        "incomplete",
        "brand",
        "campaigns",
        "complete",
        "submitted",
    ]
    assert all(
        a["idempotency_key"] is None or a["idempotency_key"].startswith("onb-")
        for a in history["attempt"]
    )
    stuck = [json.loads(line) for line in cli("stuck", "--json").stdout.splitlines()]
    assert [s["key"] for s in stuck] == ["demo-prerequisite-pause-0"]
    assert "PROFILE_INCOMPLETE" in json.dumps(stuck[0]["last_error"])
    cli("rewind", "demo-prerequisite-pause-0", "--to", "brand", "--reason", "re-check")
    cli("cancel", "demo-prerequisite-pause-0", "--reason", "abandoned by customer")
    refused = cli("resume", "demo-prerequisite-pause-0", "--reason", "oops", check=False)
    assert refused.returncode == 1
    assert "'onboarding resume' does not apply" in refused.stderr
    assert "it is cancelled; nothing can change it any more" in refused.stderr
    export = cli("export", "--format", "csv").stdout.splitlines()
    assert export[0].startswith("onboarding_id,key,profile_id,seq,at,trigger")
    assert any("abandoned by customer" in line for line in export)
    assert "nothing is stuck" in cli("stuck").stdout
    live = [p for p in sandbox.snapshot()["profiles"] if not p["deleted"]]
    assert len(live) == len(samples)


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    tmp_path: Path, served: tuple[Sandbox, str], samples: dict[str, Any]
) -> None:
    """Workers killed with SIGKILL mid-run, then restarted: one profile each, no gap in history."""
    sandbox, url = served
    sandbox.faults.configure(FaultConfig(error_rates={503: 0.1}, latency_ms=15, seed=3))
    cli = Cli(tmp_path, url)
    cli("db", "upgrade")
    cli("start", str(_specs(tmp_path, samples, copies=3)))
    chaos = random.Random(5)
    for _ in range(6):
        worker = cli.spawn(
            "worker", "--concurrency", "6", "--poll-interval", "0.05", "--lease-seconds", "1.5"
        )
        time.sleep(chaos.uniform(0.4, 1.2))
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    cli(
        "worker",
        "--until-idle",
        "--poll-interval",
        "0.05",
        "--lease-seconds",
        "1.5",
        "--max-seconds",
        "90",
    )
    rows = [json.loads(line) for line in cli("list", "--json").stdout.splitlines()]
    assert len(rows) == 3 * len(samples)
    assert {r["state"] for r in rows} <= {"submitted", "completed", "needs_attention"}
    assert sorted(r["key"] for r in rows if r["state"] == "needs_attention") == [
        f"demo-prerequisite-pause-{i}" for i in range(3)
    ]
    profiles = [p for p in sandbox.snapshot()["profiles"] if not p["deleted"]]
    assert sorted(p["id"] for p in profiles) == sorted(r["profile_id"] for r in rows)
    for row in rows:
        sent = next(p for p in profiles if p["id"] == row["profile_id"])
        requested = len(samples[row["key"].rsplit("-", 1)[0]].get("campaigns", []))
        assert len(sent["own_campaigns"]) == requested
        lines = cli("history", row["id"], "--json").stdout.splitlines()
        history = [t for t in map(json.loads, lines) if t["kind"] == "transition"]
        assert [t["seq"] for t in history] == list(range(1, len(history) + 1))
        records = [
            TransitionRecord(t["trigger"], t["from_state"], t["to_state"], t["seq"])
            for t in history[1:]
        ]
        assert replay(records) == row["state"]


def test_sigterm_finishes_in_flight_steps_and_releases_leases(
    tmp_path: Path, served: tuple[Sandbox, str], samples: dict[str, Any]
) -> None:
    """SIGTERM: stops claiming, commits in-flight steps, releases leases, exits 0, marked stopped."""
    sandbox, url = served
    sandbox.faults.configure(FaultConfig(latency_ms=300))
    cli = Cli(tmp_path, url)
    cli("db", "upgrade")
    cli("start", str(_specs(tmp_path, samples, copies=2)))
    worker = cli.spawn("worker", "--concurrency", "4", "--poll-interval", "0.05")

    def leased() -> bool:
        rows = map(json.loads, cli("list", "--json", "--internals").stdout.splitlines())
        return any(r["lease_owner"] is not None for r in rows)

    deadline = time.monotonic() + 60
    while not leased():  # steps are in flight
        assert time.monotonic() < deadline, "the worker never claimed"
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0
    listed = cli("list", "--json", "--internals").stdout.splitlines()
    rows = [json.loads(line) for line in listed]
    assert all(r["lease_owner"] is None for r in rows)
    assert any(r["state"] != "pending" for r in rows)
    workers = [json.loads(line) for line in cli("workers", "--json").stdout.splitlines()]
    assert [w["status"] for w in workers] == ["stopped"]


def test_demo_runs_every_path_and_prints_the_table(tmp_path: Path) -> None:
    """'onboarding demo' finishes quickly with one row per sample and the expected outcomes."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "workflow", "demo", "--db", str(tmp_path / "demo.db")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 60
    lines = {
        line.split("│")[1].strip(): line
        for line in result.stdout.splitlines()
        if line.startswith("│ demo-")
    }
    assert set(lines) == {
        "demo-own-brand-tcr", "demo-inherited", "demo-main-country", "demo-no-channels",
        "demo-prerequisite-pause", "demo-retried",
    }  # fmt: skip
    assert "needs_attention" in lines["demo-prerequisite-pause"]
    assert "PREREQUISITES" in lines["demo-prerequisite-pause"]
    assert "completed" in lines["demo-inherited"]
    assert "transient failure(s) retried" in lines["demo-retried"]


def test_demo_never_replaces_a_database_it_did_not_make(tmp_path: Path) -> None:
    """'demo --db' on a database holding real onboardings refuses with one line and leaves the
    file as it was; a file an earlier demo made is replaced (a sqlite:/// URL names it too)."""
    work = tmp_path / "work.db"
    env = {**os.environ, "COLUMNS": "200"}
    samples = Path(workflow.__file__).parent / "samples" / "demo.yaml"
    started = subprocess.run(
        [sys.executable, "-m", "workflow", "--db", f"sqlite:///{work}", "start", str(samples),
         "--actor", "alice"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    before = work.read_bytes()
    refused = subprocess.run(
        [sys.executable, "-m", "workflow", "demo", "--db", str(work)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"error: {work} holds data the demo did not make; it replaces its database, so choose "
        "another --db"
    ]
    assert work.read_bytes() == before
    demo = tmp_path / "mine.db"
    for _ in range(2):  # the second run replaces the first run's database
        ran = subprocess.run(
            [sys.executable, "-m", "workflow", "demo", "--db", f"sqlite:///{demo}"],
            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
    assert not (tmp_path / "sqlite:").exists()
