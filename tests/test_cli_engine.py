"""Black-box: the ``onboarding`` command against the sandbox, as operators run it."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import workflow
from workflow.core.machine import TransitionRecord, replay
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


class HoldOne:
    """ASGI middleware before the sandbox: when armed, it holds the n-th mutating request that
    arrives (it has reached Sent, the worker waits for the answer) until it is let go."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.countdown = 0
        self.held: list[tuple[str, str, str]] = []  # (method, path, Idempotency-Key)
        self.arrived = threading.Event()
        self.release = threading.Event()

    def arm(self, nth: int) -> None:
        self.countdown = nth
        self.arrived.clear()
        self.release.clear()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PATCH") and self.countdown:
            self.countdown -= 1
            if self.countdown == 0:
                headers = dict(scope["headers"])
                key = headers.get(b"idempotency-key", b"").decode()
                self.held.append((scope["method"], scope["path"], key))
                self.arrived.set()
                await asyncio.to_thread(self.release.wait, 60)
        await self.app(scope, receive, send)


def test_sigkill_mid_request_loses_and_duplicates_nothing(
    tmp_path: Path, samples: dict[str, Any]
) -> None:
    """Workers killed with SIGKILL while a call of theirs is at Sent, then restarted: one profile
    each, no gap in history.

    Each kill lands mid-step, provably: the sandbox holds the n-th mutating request (n varies
    from round to round) and the worker is killed while it waits for the answer; the database
    then holds no attempt under that request's Idempotency-Key (the step never recorded it), and
    only after the kill does Sent apply the request, whose answer nobody reads.
    """
    sandbox = Sandbox(
        OrganizationConfig(completion_delay_seconds=0.1),
        FaultConfig(error_rates={503: 0.1}, latency_ms=15, seed=3),
    )
    gate = HoldOne(sandbox.app)
    server = ServerThread(gate).start()
    try:
        _sigkill_rounds(tmp_path, sandbox, gate, server.url, samples)
    finally:
        gate.release.set()
        server.stop()
        sandbox.close()


def _recorded_attempts(db: str, key: str) -> int:
    with sqlite3.connect(db.removeprefix("sqlite:///")) as connection:
        (count,) = connection.execute(
            "SELECT count(*) FROM step_attempts WHERE idempotency_key = ?", (key,)
        ).fetchone()
    return int(count)


def _sigkill_rounds(
    tmp_path: Path, sandbox: Sandbox, gate: HoldOne, url: str, samples: dict[str, Any]
) -> None:
    cli = Cli(tmp_path, url)
    cli("db", "upgrade")
    cli("start", str(_specs(tmp_path, samples, copies=3)))
    chaos = random.Random(5)
    for round_ in range(6):
        gate.arm(chaos.randint(1, 4))
        worker = cli.spawn(
            "worker", "--concurrency", "6", "--poll-interval", "0.05", "--lease-seconds", "1.5"
        )
        assert gate.arrived.wait(60), f"round {round_}: no mutating request reached the sandbox"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        method, path, key = gate.held[-1]
        assert key.startswith("onb-"), (method, path)
        assert _recorded_attempts(cli.db, key) == 0, f"round {round_}: {method} {path} recorded"
        gate.release.set()  # Sent applies the request now; its answer goes nowhere
    assert len(gate.held) == 6
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
    # The restarted workers sent each held request again under its key, and recorded it.
    assert all(_recorded_attempts(cli.db, key) > 0 for _, _, key in gate.held), gate.held
    rows = [json.loads(line) for line in cli("list", "--json").stdout.splitlines()]
    assert len(rows) == 3 * len(samples)
    assert {r["state"] for r in rows} <= {"submitted", "completed", "needs_attention"}
    assert sorted(r["key"] for r in rows if r["state"] == "needs_attention") == [
        f"demo-prerequisite-pause-{i}" for i in range(3)
    ]
    profiles = [p for p in sandbox.snapshot()["profiles"] if not p["deleted"]]
    assert sorted(p["id"] for p in profiles) == sorted(r["profile_id"] for r in rows)
    histories: dict[str, list[dict[str, Any]]] = {row["id"]: [] for row in rows}
    for line in cli("export").stdout.splitlines():  # every transition, in the order recorded
        transition = json.loads(line)
        histories[transition["onboarding_id"]].append(transition)
    for row in rows:
        sent = next(p for p in profiles if p["id"] == row["profile_id"])
        requested = len(samples[row["key"].rsplit("-", 1)[0]].get("campaigns", []))
        assert len(sent["own_campaigns"]) == requested
        history = histories[row["id"]]
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
    deadline = time.monotonic() + 60  # until Sent executed a call: a step is in flight
    while not sandbox.counts["create_profile executed"]:
        assert worker.poll() is None, "the worker exited"
        assert time.monotonic() < deadline, "the worker never called Sent"
        time.sleep(0.01)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0
    listed = cli("list", "--json", "--internals").stdout.splitlines()
    rows = [json.loads(line) for line in listed]
    assert all(r["lease_owner"] is None for r in rows)
    assert any(r["state"] != "pending" for r in rows)
    workers = [json.loads(line) for line in cli("workers", "--json").stdout.splitlines()]
    assert [w["status"] for w in workers] == ["stopped"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """'onboarding demo --db DIR/demo.db' run once for the module: its directory and output."""
    directory = tmp_path_factory.mktemp("demo")
    result = subprocess.run(
        [sys.executable, "-m", "workflow", "demo", "--db", str(directory / "demo.db")],
        capture_output=True, text=True, timeout=120, cwd=directory, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return directory, result.stdout


def test_demo_runs_every_path_and_prints_the_table(demo_run: tuple[Path, str]) -> None:
    """'onboarding demo' finishes (within the subprocess timeout) with one row per sample and
    the expected outcomes."""
    _, stdout = demo_run
    lines = {
        line.split("│")[1].strip(): line
        for line in stdout.splitlines()
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


def test_demo_never_replaces_a_database_it_did_not_make(
    tmp_path: Path, demo_run: tuple[Path, str]
) -> None:
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
    directory, _ = demo_run  # the module's demo run made its database: this run replaces it
    made = directory / "demo.db"
    ran = subprocess.run(
        [sys.executable, "-m", "workflow", "demo", "--db", f"sqlite:///{made}"],
        capture_output=True, text=True, timeout=120, cwd=directory, env=env,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert not (directory / "sqlite:").exists()
