"""Patience with Sent: many onboardings through a failing sandbox, then through an outage.

With the engine's default retry policy (backoff bounded by an hour, each wait capped at 100 s),
two runs of one worker against ``onboarding sandbox serve`` in its own process:

1. ``--count`` onboardings (default 1,000) with 40 % of Sent's answers failing (500, 502, 503
   and 429 in equal parts);
2. the same count with Sent answering 503 to everything for ``--outage`` seconds (default 120)
   in the middle of the run (started once a third of the onboardings are done).

It prints, for each, how many finished, how many paused (the goal: none), retries, the longest
wait between two attempts, and the wall time; it exits 1 when any onboarding paused or did not
finish, or when Sent ended up with a duplicate.

    python benchmarks/resilience.py [--count 1000] [--outage 120] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import yaml

import engine_cli
from harness import SandboxProcess, markdown_table
from tcr_path import CALLBACK_BASE_URL, documents


def _states(db_file: Path) -> Counter[str]:
    with sqlite3.connect(db_file) as connection:
        return Counter(
            dict(connection.execute("SELECT state, count(*) FROM onboardings GROUP BY state"))
        )


def _attempt_figures(db_file: Path) -> tuple[int, float]:
    """Retried attempts, and the longest wait between two attempts of one step item (s)."""
    with sqlite3.connect(db_file) as connection:
        retried = connection.execute(
            "SELECT count(*) FROM step_attempts WHERE outcome = 'retry'"
        ).fetchone()[0]
        rows = connection.execute(
            "SELECT onboarding_id, step, item, at FROM step_attempts ORDER BY onboarding_id, id"
        ).fetchall()
    longest, previous = 0.0, None
    for onboarding, step, item, at in rows:
        moment = time.mktime(time.strptime(at[:19], "%Y-%m-%d %H:%M:%S"))
        if previous is not None and previous[:3] == (onboarding, step, item):
            longest = max(longest, moment - previous[3])
        previous = (onboarding, step, item, moment)
    return int(retried), longest


def _outage(sandbox: SandboxProcess, db_file: Path, count: int, seconds: float) -> None:
    """Once a third is done, make Sent answer 503 to everything for ``seconds``."""
    while (
        sum(v for k, v in _states(db_file).items() if k in ("submitted", "completed")) < count / 3
    ):
        time.sleep(0.5)
    faults = httpx.get(sandbox.url + "/_sandbox/faults").json()
    httpx.put(sandbox.url + "/_sandbox/faults", json={**faults, "error_rates": {"503": 1.0}})
    print(f"  outage: Sent answers 503 to everything for {seconds:.0f} s", flush=True)
    time.sleep(seconds)
    httpx.put(sandbox.url + "/_sandbox/faults", json=faults)
    print("  outage over", flush=True)


def run(name: str, args: argparse.Namespace, *, error_rate: float, outage: float) -> list[object]:
    """One run; returns its table row."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        db_file = workdir / "onboarding.db"
        db = f"sqlite:///{db_file}"
        env = engine_cli.environment(
            workdir, callback_base_url=CALLBACK_BASE_URL, completion_poll=0.5
        )
        specs = workdir / "specs.yaml"
        specs.write_text(yaml.safe_dump(documents(args.count, "r")))
        subprocess.run(
            engine_cli.start_command(db, specs), env=env, check=True, capture_output=True
        )
        with SandboxProcess(workdir, latency_ms=args.latency_ms) as sandbox:
            if error_rate:
                share = error_rate / 4
                httpx.put(
                    sandbox.url + "/_sandbox/faults",
                    json={"error_rates": {"500": share, "502": share, "503": share, "429": share},
                          "retry_after": 1, "seed": 11},
                )  # fmt: skip
            breaker = None
            if outage:
                breaker = threading.Thread(
                    target=_outage, args=(sandbox, db_file, args.count, outage), daemon=True
                )
                breaker.start()
            started = time.monotonic()
            worker = subprocess.run(
                engine_cli.worker_command(
                    db, sandbox.url, concurrency=args.concurrency, poll_interval=0.1
                ),
                env={**env, "ONBOARDING_LOG_LEVEL": "WARNING"}, capture_output=True, text=True,
            )  # fmt: skip
            wall = time.monotonic() - started
            if breaker is not None:
                breaker.join(timeout=1)
            profiles = sandbox.state()["profiles"]
        states = _states(db_file)
        retried, longest = _attempt_figures(db_file)
    finished = states["submitted"] + states["completed"]
    paused = states["needs_attention"]
    names = Counter(p["name"] for p in profiles if not p["deleted"])
    duplicates = sum(n - 1 for n in names.values() if n > 1)
    ok = worker.returncode == 0 and finished == args.count and paused == 0 and not duplicates
    if not ok:
        print(
            f"{name}: FAILED (worker exit {worker.returncode}, {dict(states)}, "
            f"{duplicates} duplicate profiles)\n{worker.stderr[-2000:]}",
            file=sys.stderr,
        )
    return [name, args.count, finished, paused, retried, f"{longest:.0f}", f"{wall:.0f}",
            "yes" if ok else "NO"]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--outage", type=float, default=120.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    print(f"resilience: {args.count} onboardings, default retry policy, concurrency "
          f"{args.concurrency}, load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    rows = [
        run("40% of calls failing", args, error_rate=0.4, outage=0),
        run(f"{args.outage:.0f} s outage mid-run", args, error_rate=0.0, outage=args.outage),
    ]
    header = ["run", "onboardings", "finished", "paused", "retried attempts",
              "longest wait s", "wall s", "ok"]  # fmt: skip
    print(markdown_table(header, rows))
    print(json.dumps({"load_after": os.getloadavg()[0]}))
    if any(row[-1] != "yes" for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
