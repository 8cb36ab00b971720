"""Scaling out: 1, 2 and 4 ``onboarding worker`` processes sharing one PostgreSQL database.

320 onboardings of the own-brand TCR sample, sandbox latency 100 ms (its own process, fresh per
run), each worker ``--until-idle --concurrency 16``. The schema comes from ``onboarding db
upgrade`` on an emptied database before each run. Throughput is onboardings over the time from
the first worker ready to the last worker done. Exits 1 when a run's result is wrong.

    ONBOARDING_BENCH_POSTGRES_URL=postgresql+psycopg://... python benchmarks/pg_workers.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa
import yaml

import engine_cli
from harness import Measured, SandboxProcess, markdown_table, run_measured, sandbox_problems
from tcr_path import CALLBACK_BASE_URL, documents

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test_bench"


def postgres_url() -> str:
    """``ONBOARDING_BENCH_POSTGRES_URL``, else the local ``test_bench`` database."""
    return os.environ.get("ONBOARDING_BENCH_POSTGRES_URL") or DEFAULT_URL


def empty_database(url: str) -> None:
    """Drop every table (the engine's and Alembic's) so each run starts from nothing."""
    engine = sa.create_engine(url)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        metadata.drop_all(engine)
    finally:
        engine.dispose()


def run(url: str, workers: int, args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    """One run with ``workers`` processes; returns its figures and problems."""
    empty_database(url)
    env = engine_cli.environment(
        workdir, callback_base_url=CALLBACK_BASE_URL, completion_poll=args.completion_poll
    )
    specs = workdir / f"specs-{workers}.yaml"
    specs.write_text(yaml.safe_dump(documents(args.count, f"pg{workers}")), encoding="utf-8")
    with SandboxProcess(workdir, latency_ms=args.latency_ms) as sandbox:
        engine_cli.upgrade(url, env)
        start = run_measured(engine_cli.start_command(url, specs), env=env)
        if start.returncode != 0:
            return {"problems": [f"onboarding start exited {start.returncode}: {start.tail()}"]}
        argv = engine_cli.worker_command(
            url, sandbox.url, concurrency=args.concurrency, poll_interval=args.poll_interval
        )

        def one(_: int) -> Measured:
            return run_measured(
                argv, env=env, ready_marker=engine_cli.READY_MARKER,
                done_marker=engine_cli.DONE_MARKER, timeout=args.timeout,
            )  # fmt: skip

        with ThreadPoolExecutor(max_workers=workers) as pool:
            runs = list(pool.map(one, range(workers)))
        problems = sandbox_problems(sandbox.state(), args.count)
    problems += [f"worker exited {r.returncode}: {r.tail()}" for r in runs if r.returncode]
    states = engine_cli.states(url, env)
    if states.get("submitted", 0) != args.count:
        problems.append(f"engine states {dict(states)}, expected {args.count} submitted")
    began = min(r.ready_at if r.ready_at is not None else r.started for r in runs)
    ended = max(r.done_at if r.done_at is not None else r.ended for r in runs)
    return {
        "workers": workers,
        "per_second": args.count / (ended - began),
        "wall_s": ended - began,
        "cpu_ms": sum(r.cpu_s for r in runs) * 1000 / args.count,
        "rss_mib": max(r.peak_rss_mib for r in runs),
        "startup_s": max(r.startup_s or 0.0 for r in runs),
        "problems": problems,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=320)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--poll-interval", type=float, default=0.05, help="Claim poll (s).")
    parser.add_argument("--completion-poll", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=120, help="Per worker (s).")
    args = parser.parse_args(argv)
    url = postgres_url()
    try:
        empty_database(url)
    except sa.exc.OperationalError as exc:
        sys.exit(
            f"pg_workers: cannot reach PostgreSQL ({exc.orig}); set ONBOARDING_BENCH_POSTGRES_URL"
        )
    results = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="pg-workers-") as tmp:
        for workers in args.workers:
            results.append(run(url, workers, args, Path(tmp)))
    print(
        f"pg_workers: {args.count} onboardings of the own-brand TCR sample on PostgreSQL, "
        f"{args.concurrency} in flight per worker, sandbox latency {args.latency_ms:g} ms\n"
    )
    ok = [r for r in results if "workers" in r]
    rows = [
        [r["workers"], f"{r['per_second']:.1f}", f"{r['wall_s']:.1f}", f"{r['cpu_ms']:.1f}",
         f"{r['rss_mib']:.0f}", f"{r['startup_s']:.2f}"]
        for r in ok
    ]  # fmt: skip
    header = ["workers", "onboardings/s", "wall s", "CPU ms/onboarding", "peak RSS MiB/worker",
              "slowest startup s"]  # fmt: skip
    print(markdown_table(header, rows))
    by_workers = {r["workers"]: float(r["per_second"]) for r in ok}  # type: ignore[arg-type]
    if 1 in by_workers and 4 in by_workers:
        print(f"\n4 workers vs 1: {by_workers[4] / by_workers[1]:.2f}x")
    print(f"load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    failed = [p for r in results for p in r["problems"]]  # type: ignore[attr-defined]
    for problem in failed:
        print(f"FAILED {problem}", file=sys.stderr)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
