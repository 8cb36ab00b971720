"""This engine next to what a user would pick instead, on the same workload and the same sandbox.

200 onboardings of the own-brand TCR sample, 16 in flight, sandbox latency 50 ms per request
(``onboarding sandbox serve`` in its own process, a fresh one per contender). Contenders, each
in its own process:

* engine: ``onboarding start`` the specs, then one ``onboarding worker --until-idle``;
* floor: httpx + ``ThreadPoolExecutor``, the same calls and Idempotency-Keys, no database;
* DBOS: DBOS Transact on SQLite, one ``@DBOS.step`` per call, a queue of 16 (``.[bench]``).

Throughput is onboardings / (ready -> exit). CPU is user + system of the contender's processes
(the engine's includes ``onboarding start``). With ``--repeat N`` the rounds alternate the
contenders and each one's best round is shown. Exits 1 when any run's result is wrong.

    python benchmarks/compare.py [--count 200] [--concurrency 16] [--latency-ms 50] [--repeat 1]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

import engine_cli
from harness import Measured, SandboxProcess, markdown_table, run_measured, sandbox_problems
from tcr_path import CALLBACK_BASE_URL, DONE_LINE, READY_LINE, documents

HERE = Path(__file__).resolve().parent
NOT_INSTALLED = "not installed (pip install -e '.[bench]')"


@dataclass
class Row:
    """One contender's figures (``note`` instead of figures when it did not run)."""

    name: str
    per_second: float = 0.0
    cpu_ms: float = 0.0
    rss_mib: float = 0.0
    startup_s: float = 0.0
    note: str | None = None
    problems: list[str] = field(default_factory=list)


def _figures(name: str, count: int, main: Measured, cpu_s: float) -> Row:
    return Row(
        name, per_second=count / main.work_s, cpu_ms=cpu_s * 1000 / count,
        rss_mib=main.peak_rss_mib, startup_s=main.startup_s or 0.0,
    )  # fmt: skip


def _failed(name: str, step: str, run: Measured) -> Row:
    return Row(name, note="failed", problems=[f"{step} exited {run.returncode}: {run.tail()}"])


def run_engine(args: argparse.Namespace, workdir: Path, api_url: str) -> Row:
    """``onboarding start`` then one worker, on a fresh SQLite file."""
    db = f"sqlite:///{workdir / 'engine.db'}"
    env = engine_cli.environment(
        workdir, callback_base_url=CALLBACK_BASE_URL, completion_poll=args.completion_poll
    )
    specs = workdir / "specs.yaml"
    specs.write_text(yaml.safe_dump(documents(args.count, "engine")), encoding="utf-8")
    engine_cli.upgrade(db, env)
    start = run_measured(engine_cli.start_command(db, specs), env=env)
    if start.returncode != 0:
        return _failed("engine", "onboarding start", start)
    worker = run_measured(
        engine_cli.worker_command(
            db, api_url, concurrency=args.concurrency, poll_interval=args.poll_interval
        ),
        env=env, ready_marker=engine_cli.READY_MARKER, done_marker=engine_cli.DONE_MARKER,
        timeout=args.timeout,
    )  # fmt: skip
    if worker.returncode != 0:
        return _failed("engine", "onboarding worker", worker)
    row = _figures("engine", args.count, worker, start.cpu_s + worker.cpu_s)
    row.note = (
        f"`onboarding start` {start.wall_s:.2f} s wall, {start.cpu_s * 1000 / args.count:.1f} "
        f"CPU ms/onboarding (included); worker CPU {worker.cpu_s * 1000 / args.count:.1f} ms"
    )
    states = engine_cli.states(db, env)
    if states.get("submitted", 0) != args.count:
        row.problems.append(f"engine states {dict(states)}, expected {args.count} submitted")
    return row


def run_script(
    name: str, script: str, args: argparse.Namespace, workdir: Path, api_url: str
) -> Row:
    """A contender written as a script in this folder (it prints a ready and a done line)."""
    argv = [
        sys.executable, str(HERE / script), "--api-url", api_url, "--count", str(args.count),
        "--concurrency", str(args.concurrency), "--completion-poll", str(args.completion_poll),
    ]  # fmt: skip
    if name == "DBOS":
        argv += ["--poll-interval", str(args.poll_interval), "--workdir", str(workdir)]
        # Like the engine's `db upgrade`, the schema exists before the measured run.
        migrate = run_measured([*argv, "--migrate-only"], cwd=HERE, timeout=args.timeout)
        if migrate.returncode != 0:
            return _failed(name, f"{script} --migrate-only", migrate)
    run = run_measured(
        argv, cwd=HERE, ready_marker=READY_LINE, done_marker=DONE_LINE, timeout=args.timeout
    )
    if run.returncode != 0:
        return _failed(name, script, run)
    row = _figures(name, args.count, run, run.cpu_s)
    done = [line for line in run.stdout if line.startswith(DONE_LINE)]
    row.note = done[0].removeprefix(DONE_LINE).strip() if done else None
    return row


def help_wall(runs: int = 5) -> float:
    """Median wall time of ``onboarding --help``."""
    return statistics.median(run_measured(engine_cli.help_command()).wall_s for _ in range(runs))


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def report(rows: list[Row], args: argparse.Namespace, help_s: float) -> None:
    """Print the table, the ratios and the notes."""
    print(
        f"compare: {args.count} onboardings of the own-brand TCR sample, {args.concurrency} in "
        f"flight, sandbox latency {args.latency_ms:g} ms, completion read every "
        f"{args.completion_poll:g} s, claim poll {args.poll_interval:g} s\n"
    )
    table = [
        [r.name, r.note, "", "", ""]
        if r.note in (NOT_INSTALLED, "failed")
        else [r.name, f"{r.per_second:.1f}", f"{r.cpu_ms:.1f}", f"{r.rss_mib:.0f}",
              f"{r.startup_s:.2f}"]
        for r in rows
    ]  # fmt: skip
    header = ["contender", "onboardings/s", "CPU ms/onboarding", "peak RSS MiB", "startup s"]
    print(markdown_table(header, table))
    ran = {r.name: r for r in rows if r.note not in (NOT_INSTALLED, "failed")}
    engine = ran.get("engine")
    print()
    for other in ("DBOS", "floor"):
        if engine is not None and other in ran:
            o = ran[other]
            print(
                f"engine/{other}: onboardings/s {_ratio(engine.per_second, o.per_second)}, "
                f"CPU {_ratio(engine.cpu_ms, o.cpu_ms)}, RSS {_ratio(engine.rss_mib, o.rss_mib)}, "
                f"startup {_ratio(engine.startup_s, o.startup_s)}"
            )
    print(f"engine startup: worker to its first claim; `onboarding --help` takes {help_s:.2f} s")
    for r in rows:
        if r.note and r.note not in (NOT_INSTALLED, "failed"):
            print(f"{r.name}: {r.note}")


def run_contender(name: str, args: argparse.Namespace, workdir: Path) -> Row:
    """One run of one contender against a fresh sandbox, checked against Sent's end state."""
    if name == "DBOS" and importlib.util.find_spec("dbos") is None:
        return Row(name, note=NOT_INSTALLED)
    workdir.mkdir()
    with SandboxProcess(workdir, latency_ms=args.latency_ms) as sandbox:
        if name == "engine":
            row = run_engine(args, workdir, sandbox.url)
        else:
            script = "floor_client.py" if name == "floor" else "dbos_client.py"
            row = run_script(name, script, args, workdir, sandbox.url)
        row.problems += sandbox_problems(sandbox.state(), args.count)
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--poll-interval", type=float, default=0.05, help="Claim poll (s).")
    parser.add_argument(
        "--completion-poll", type=float, default=0.1, help="Wait between status reads (s)."
    )
    parser.add_argument("--timeout", type=float, default=120, help="Per contender (s).")
    parser.add_argument("--only", nargs="*", choices=["engine", "floor", "DBOS"])
    parser.add_argument(
        "--repeat", type=int, default=1, help="Rounds through the contenders; the best counts."
    )
    args = parser.parse_args(argv)
    chosen = args.only or ["engine", "floor", "DBOS"]
    runs: dict[str, list[Row]] = {name: [] for name in chosen}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="compare-") as tmp:
        help_s = help_wall()
        # Rounds alternate the contenders, so a burst of load elsewhere hits them alike.
        for round_ in range(args.repeat):
            for name in chosen:
                runs[name].append(run_contender(name, args, Path(tmp) / f"{name}-{round_}"))
    rows = [max(found, key=lambda r: r.per_second) for found in runs.values()]
    for row in rows:
        row.problems = [p for r in runs[row.name] for p in r.problems]
    print(f"load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    report(rows, args, help_s)
    failed = [f"{r.name}: {p}" for r in rows for p in r.problems]
    for line in failed:
        print(f"FAILED {line}", file=sys.stderr)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
