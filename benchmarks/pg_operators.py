"""What an operator waits for at 1,000,000 onboardings on PostgreSQL: read commands as fresh
processes, start-up included.

Runs against a PostgreSQL database already filled by ``populate.py`` (the fill takes about
twelve minutes for a million onboardings, so it is a separate step) and prints, for each
command, the fastest and median wall time, the child's CPU time and its peak RSS, beside the
time of ``onboarding --version`` (the start-up alone, which no query can shorten) and of the
SQL of ``stuck --summary`` alone (in this process, so without start-up). Figures are printed,
never asserted.

    python benchmarks/populate.py postgresql+psycopg://.../bench --count 1000000
    python benchmarks/pg_operators.py postgresql+psycopg://.../bench [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from operators import ONBOARDING, measure

TARGETS = {"stuck --summary": 200, "list": 200, "show": 200}


def _one(url: str, sql: str) -> str:
    from persistence.dbapi import Database, locate

    database = Database(locate(url))
    try:
        row = database.first("benchmark", sql, {})
    finally:
        database.close()
    assert row is not None
    return str(next(iter(row.values())))


def summary_sql_ms(url: str, repeat: int) -> list[float]:
    """The SQL of ``stuck --summary`` alone, timed in this process."""
    from persistence.dbapi import Database, locate
    from persistence.reader import SqlReader, StuckQuery

    times = []
    with SqlReader(Database(locate(url))) as reader:
        for _ in range(repeat):
            now = datetime.now(UTC)
            query = StuckQuery(now, now - timedelta(minutes=5), now - timedelta(minutes=30))
            started = time.perf_counter()
            reader.stuck_summary(query)
            times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="SQLAlchemy URL of a database filled by populate.py")
    parser.add_argument("--repeat", type=int, default=7, help="runs of each command")
    args = parser.parse_args()
    total = _one(args.url, "SELECT count(*) AS n FROM onboardings")
    key = _one(args.url, "SELECT key FROM onboardings WHERE finished_at IS NOT NULL LIMIT 1")
    commands = {
        "--version (start-up alone)": ["--version"],
        "stuck --summary": ["stuck", "--summary"],
        "list": ["list"],
        "list --code PREREQUISITES": ["list", "--code", "PREREQUISITES"],
        "show": ["show", key],
        "resume --code PREREQUISITES --dry-run": [
            "resume", "--code", "PREREQUISITES", "--reason", "r", "--dry-run",
        ],
        "batches": ["batches"],
    }  # fmt: skip
    print(f"\n{int(total):,} onboardings on PostgreSQL; best of {args.repeat}, start-up included\n")
    print("| command | wall min | wall median | CPU | peak RSS | target |")
    print("|---|---|---|---|---|---|")
    for name, words in commands.items():
        runs = [measure([str(ONBOARDING), "--db", args.url, *words]) for _ in range(args.repeat)]
        walls = [r.wall * 1000 for r in runs]
        goal = f"< {TARGETS[name]} ms" if name in TARGETS else ""
        print(
            f"| `{name}` | {min(walls):.0f} ms | {statistics.median(walls):.0f} ms | "
            f"{min(r.cpu for r in runs) * 1000:.0f} ms | {max(r.rss for r in runs):.0f} MiB | "
            f"{goal} |",
            flush=True,
        )
    sql = summary_sql_ms(args.url, args.repeat)
    median = statistics.median(sql)
    print(f"\nSQL of stuck --summary alone: min {min(sql):.1f} ms, median {median:.1f} ms")


if __name__ == "__main__":
    main()
