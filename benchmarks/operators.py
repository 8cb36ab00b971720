"""What an operator waits for at 100,000 onboardings: each read command as a fresh process.

Fills a SQLite database with ``populate.py`` (unless ``--db`` names one already filled), then
runs ``onboarding stuck --summary``, a 50-row page of ``list`` (the first and one deep in the
list), ``stuck``, ``show``, ``history`` and the exports (JSON Lines, CSV, attempts) ``--repeat``
times each, start-up included, and prints the fastest and median wall time, CPU time and peak
RSS of the child (read from the kernel when it is reaped). Output goes to /dev/null, so an
export's memory is the process's own. With ``--finished N`` it then adds N finished onboardings
(copies of the completed ones) and measures again: the targets must not move.

Targets (printed next to the figures, never asserted): ``stuck --summary`` and a page of
``list`` under 200 ms; ``export`` of everything under 150 MB.

    python benchmarks/operators.py [--db FILE] [--count 100000] [--repeat 7] [--finished 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ONBOARDING = Path(sys.executable).with_name("onboarding")
TARGETS = {"stuck --summary": ("ms", 200), "list": ("ms", 200), "export": ("MiB", 150)}


@dataclass
class Run:
    """One child process: wall and CPU seconds, peak RSS in MiB."""

    wall: float
    cpu: float
    rss: float


def measure(argv: list[str]) -> Run:
    """Run ``argv`` with stdout to /dev/null; its own CPU time and peak RSS from ``wait4``."""
    started = time.perf_counter()
    with open(os.devnull, "w") as sink:
        child = subprocess.Popen(argv, stdout=sink, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv)} failed: {child.stderr.read().decode() if child.stderr else ''}"
        )
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def cursor_deep_in(db: str) -> str:
    """The cursor of the row at the middle of ``list`` (a page deep in the list).

    The page is read line by line and only the last kept: this process stays small, because
    a child's peak RSS counts what its parent held when it was forked.
    """
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        total = connection.execute("SELECT count(*) FROM onboardings").fetchone()[0]
    argv = [
        str(ONBOARDING),
        "--db",
        f"sqlite:///{db}",
        "list",
        "--json",
        "--limit",
        str(total // 2),
    ]
    last = ""
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        for line in child.stdout:
            last = line
    return str(json.loads(last)["cursor"])


def commands(db: str) -> dict[str, list[str]]:
    """The read commands to time, by name."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        key = connection.execute(
            "SELECT key FROM onboardings WHERE finished_at IS NOT NULL LIMIT 1"
        ).fetchone()[0]
    return {
        "stuck --summary": ["stuck", "--summary"],
        "list": ["list"],
        "list --json": ["list", "--json"],
        "list --after (middle)": ["list", "--after", cursor_deep_in(db)],
        "stuck": ["stuck"],
        "show": ["show", key],
        "history --attempts": ["history", key, "--attempts"],
        "export": ["export"],
        "export --format csv": ["export", "--format", "csv"],
        "export --attempts": ["export", "--attempts"],
    }


def report(db: str, repeat: int, title: str) -> None:
    """Time every command on ``db`` and print a Markdown table."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        counts = [
            connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("onboardings", "transitions", "step_attempts")
        ]
        finished = connection.execute(
            "SELECT count(*) FROM onboardings WHERE finished_at IS NOT NULL"
        ).fetchone()[0]
    print(
        f"\n{title}: {counts[0]:,} onboardings ({finished:,} finished), {counts[1]:,} "
        f"transitions, {counts[2]:,} attempts; best of {repeat} runs, start-up included\n"
    )
    print("| command | wall min | wall median | CPU | peak RSS | target |")
    print("|---|---|---|---|---|---|")
    for name, args in commands(db).items():
        runs = [measure([str(ONBOARDING), "--db", f"sqlite:///{db}", *args]) for _ in range(repeat)]
        walls = [r.wall * 1000 for r in runs]
        target = TARGETS.get(name)
        goal = f"< {target[1]} {target[0]}" if target else ""
        print(
            f"| `{name}` | {min(walls):.0f} ms | {statistics.median(walls):.0f} ms | "
            f"{min(r.cpu for r in runs) * 1000:.0f} ms | {max(r.rss for r in runs):.0f} MiB | "
            f"{goal} |",
            flush=True,
        )


def add_finished(db: str, count: int) -> None:
    """Add ``count`` finished onboardings: copies of the completed ones under new ids and keys."""
    with sqlite3.connect(db) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(onboardings)")]
        source = connection.execute(
            "SELECT count(*) FROM onboardings WHERE finished_at IS NOT NULL"
        ).fetchone()[0]
        copied = 0
        round_ = 0
        while copied < count:
            round_ += 1
            chosen = [
                f"printf('%.24s%08x', id, {round_})" if name == "id"
                else f"key || '-copy{round_}'" if name == "key" else name
                for name in columns
            ]  # fmt: skip
            limit = min(source, count - copied)
            connection.execute(
                f"INSERT INTO onboardings ({', '.join(columns)}) SELECT {', '.join(chosen)} "
                f"FROM onboardings WHERE finished_at IS NOT NULL AND key NOT LIKE '%-copy%' "
                f"LIMIT {limit}"
            )
            copied += limit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="a SQLite file filled by populate.py (default: fill one)")
    parser.add_argument("--count", type=int, default=100_000, help="onboardings to populate")
    parser.add_argument("--repeat", type=int, default=7, help="runs of each command")
    parser.add_argument("--finished", type=int, default=0, help="then add this many finished")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="operators-"))
    try:
        db = args.db
        if db is None:
            db = str(workdir / "operators.db")
            subprocess.run(
                [sys.executable, str(HERE / "populate.py"), f"sqlite:///{db}", "--count",
                 str(args.count)],
                check=True,
            )  # fmt: skip
        report(db, args.repeat, "operators")
        if args.finished:
            grown = str(workdir / "grown.db")
            shutil.copyfile(db, grown)
            add_finished(grown, args.finished)
            report(grown, args.repeat, f"operators, {args.finished:,} more finished")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
