"""Sent's rate limit on ``/complete``, met by two workers sharing one PostgreSQL database.

400 onboardings of the own-brand TCR sample under the 2026-10 revision reach ``/complete``
together: a first stage runs them unpaced up to ``/complete``, which the sandbox answers 409
``CONFLICT_001`` meanwhile (each sends again 2 s later, not an attempt). Once all 400 are
there, those workers stop, the fault is lifted, Sent's limit is set and the measured stage
begins: the sandbox (its own process, ``--api-revision 2026-10``) answers ``/complete`` at
most 120 times a minute per API key (a sliding minute) and 429 beyond, and two ``onboarding
worker --until-idle`` processes pace ``/complete`` through the database
(``ONBOARDING_RATE_LIMITS``, a little under Sent's limit so that the workers' wake-up jitter
never makes a sliding minute hold one call too many). Printed: the outcomes, how many paused,
how many 429s Sent answered, and the ``/complete`` phase (the measured stage's first call to
its last accepted call) against the 200 s the limit itself allows for 400 calls. Exits 1 when
a target is missed.

    ONBOARDING_BENCH_POSTGRES_URL=postgresql+psycopg://... python benchmarks/rate_limit.py

Targets: every onboarding completed, none paused, at most 5 answers of 429, the phase within
10 % of 200 s (220 s).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import yaml

import engine_cli
from harness import Measured, SandboxProcess, run_measured
from pg_workers import empty_database, postgres_url
from tcr_path import CALLBACK_BASE_URL, documents


class LimitedSandbox(SandboxProcess):
    """``onboarding sandbox serve --api-revision 2026-10 --complete-per-minute N``."""

    def __init__(self, workdir: Path, per_minute: float) -> None:
        options = ["--api-revision", "2026-10", "--complete-per-minute", f"{per_minute:g}"]
        super().__init__(
            workdir, completion_delay=0.2, options=[*options, "--log-level", "WARNING"]
        )

    def faults(self, config: dict[str, Any]) -> None:
        httpx.put(self.url + "/_sandbox/faults", json=config, timeout=30).raise_for_status()

    def limit(self, per_minute: float) -> None:
        """Sent's /complete limit from now on (0: none)."""
        httpx.put(
            self.url + "/_sandbox/organization",
            json={"complete_per_minute": per_minute},
            timeout=30,
        ).raise_for_status()

    def counts(self) -> dict[str, int]:
        return dict(self.state()["mutations"])


def failed_once(url: str) -> int:
    """How many onboardings have called /complete in stage one (answered 409)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    sa.text(
                        "SELECT count(DISTINCT onboarding_id) FROM step_attempts "
                        "WHERE method = 'POST' AND path LIKE '%/complete' AND http_status = 409"
                    )
                ).scalar()
                or 0
            )
    finally:
        engine.dispose()


def stage_one(url: str, api_url: str, env: dict[str, str], count: int, timeout: float) -> None:
    """Two unpaced workers take every onboarding up to /complete (answered 409), then stop."""
    unpaced = {**env, "ONBOARDING_RATE_LIMITS": "complete=0"}
    argv = engine_cli.command(
        "worker", "--concurrency", "16", "--poll-interval", "0.1", "--log-level", "WARNING",
        db=url, api_url=api_url,
    )  # fmt: skip
    procs = [
        subprocess.Popen(argv, env=unpaced, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + timeout
        while failed_once(url) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"stage one: {failed_once(url)} of {count} reached /complete")
            time.sleep(0.5)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)


def complete_phase(url: str) -> dict[str, Any]:
    """From the measured stage's attempts: when /complete was first called and last accepted,
    and the 429s."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT at, http_status FROM step_attempts "
                    "WHERE method = 'POST' AND path LIKE '%/complete' "
                    "AND (http_status IS NULL OR http_status <> 409) ORDER BY at"
                )
            ).all()
            waited = connection.execute(
                sa.text("SELECT count(*) FROM onboardings WHERE rate_class IS NOT NULL")
            ).scalar()
    finally:
        engine.dispose()
    accepted = [r[0] for r in rows if r[1] is not None and 200 <= r[1] < 300]
    return {
        "calls": len(rows),
        "throttled": sum(1 for r in rows if r[1] == 429),
        "seconds": (accepted[-1] - rows[0][0]).total_seconds() if accepted else float("nan"),
        "still_waiting": int(waited or 0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--sent-limit", type=float, default=120, help="Sent's /complete a minute")
    parser.add_argument("--engine-limit", type=float, default=116, help="the engine's pace")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--poll-interval", type=float, default=0.1)
    parser.add_argument("--completion-poll", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    url = postgres_url()
    allowed = args.count / args.sent_limit * 60
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        empty_database(url)
        env = engine_cli.environment(
            workdir, callback_base_url=CALLBACK_BASE_URL, completion_poll=args.completion_poll
        )
        env["ONBOARDING_SENT_API"] = "2026-10"
        env["ONBOARDING_RATE_LIMITS"] = f"complete={args.engine_limit:g}"
        specs = workdir / "specs.yaml"
        specs.write_text(yaml.safe_dump(documents(args.count, "rl")), encoding="utf-8")
        with LimitedSandbox(workdir, args.sent_limit) as sandbox:
            engine_cli.upgrade(url, env)
            start = run_measured(engine_cli.start_command(url, specs), env=env)
            if start.returncode != 0:
                print(f"onboarding start exited {start.returncode}: {start.tail()}")
                return 1
            held = {"path_contains": "/complete", "status": 409, "code": "CONFLICT_001"}
            sandbox.limit(0)  # stage one's waiting calls are not the ones measured
            sandbox.faults({"scripted": [{**held, "times": 1_000_000}]})
            stage_one(url, sandbox.url, env, args.count, args.timeout)
            sandbox.faults({})
            sandbox.limit(args.sent_limit)
            argv = engine_cli.worker_command(
                url, sandbox.url, concurrency=args.concurrency, poll_interval=args.poll_interval
            )

            def one(_: int) -> Measured:
                return run_measured(
                    argv, env=env, ready_marker=engine_cli.READY_MARKER,
                    done_marker=engine_cli.DONE_MARKER, timeout=args.timeout,
                )  # fmt: skip

            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                runs = list(pool.map(one, range(args.workers)))
            counts = sandbox.counts()
        states = engine_cli.states(url, env)
        phase = complete_phase(url)
    problems = [f"worker exited {r.returncode}: {r.tail()}" for r in runs if r.returncode]
    paused = states.get("needs_attention", 0)
    sent_429 = counts.get("complete rate_limited", 0)
    if states.get("completed", 0) != args.count:
        problems.append(f"states {dict(states)}, expected {args.count} completed")
    if paused:
        problems.append(f"{paused} paused")
    if sent_429 > 5:
        problems.append(f"{sent_429} answers of 429, expected at most 5")
    if not phase["seconds"] <= allowed * 1.1:
        problems.append(f"/complete phase {phase['seconds']:.1f} s, over {allowed * 1.1:.0f} s")
    print(
        f"{args.count} onboardings, {args.workers} workers on PostgreSQL, Sent limits /complete "
        f"to {args.sent_limit:g}/min, the engine paces it at {args.engine_limit:g}/min"
    )
    print(f"outcomes: {dict(sorted(states.items()))}; paused: {paused}")
    executed = counts.get("complete executed", 0)
    print(f"stage one: {args.count} onboardings brought to /complete (answered 409 meanwhile)")
    print(
        f"/complete: {phase['calls']} calls, {sent_429} answered 429 "
        f"({phase['throttled']} recorded on attempts), executed {executed}"
    )
    print(
        f"/complete phase: {phase['seconds']:.1f} s (the limit allows {allowed:.0f} s; "
        f"target <= {allowed * 1.1:.0f} s)"
    )
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
