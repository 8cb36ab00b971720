"""Bulk operator actions at 100,000 onboardings, timed as an operator runs them.

python benchmarks/bulk.py [--db URL] [--count 100000] [--runs 5]

Without ``--db`` a SQLite file is made in a temporary directory and filled with
``benchmarks/populate.py`` (10 % of the onboardings are paused with COMPLETION_TIMEOUT). Then:

* ``onboarding resume --code COMPLETION_TIMEOUT --dry-run`` (``--count / 10`` matches) is run
  ``--runs`` times as a fresh process each: wall time includes interpreter start-up, imports,
  the schema check, the selection and the printed preview;
* ``onboarding resume --code COMPLETION_TIMEOUT --key-prefix load-00 --yes`` resumes 1,000 of
  them for real (one version-checked commit and audit row each, one batch id), and the audit
  rows with that batch id are counted.

The real run changes the database: give ``--db`` an empty database (it is populated), or one
populated by an earlier run whose first thousand timeouts are still paused.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from persistence.db import make_engine, safe_url
from persistence.migrate import upgrade
from persistence.rows import ONBOARDINGS, TRANSITIONS
from populate import populate

ONBOARDING = Path(sys.executable).with_name("onboarding")


def _onboarding(*args: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [str(ONBOARDING), *args], capture_output=True, text=True, stdin=subprocess.DEVNULL,
        check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"onboarding {' '.join(args)} failed: {result.stderr.strip()}")
    return elapsed, result.stdout


def _count(url: str, query: Any) -> int:
    engine = make_engine(url)
    with engine.connect() as connection:
        value = int(connection.execute(query).scalar_one())
    engine.dispose()
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a new SQLite file, populated)")
    parser.add_argument("--count", type=int, default=100_000, help="onboardings to populate")
    parser.add_argument("--runs", type=int, default=5, help="dry runs to time")
    args = parser.parse_args()
    workdir = tempfile.TemporaryDirectory(prefix="bulk-bench-")
    url = args.db or f"sqlite:///{Path(workdir.name) / 'bulk.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    total = _count(url, select(func.count()).select_from(ONBOARDINGS))
    if total == 0:
        started = time.perf_counter()
        written = populate(url, args.count)
        print(
            f"populated {safe_url(url)}: {written['onboardings']} onboardings, "
            f"{written['transitions']} transitions, {written['attempts']} attempts in "
            f"{time.perf_counter() - started:.1f} s"
        )
        total = written["onboardings"]
    selection = ["resume", "--code", "COMPLETION_TIMEOUT", "--reason", "benchmark"]
    times = []
    matched = "?"
    for _ in range(args.runs):
        elapsed, output = _onboarding("--db", url, *selection, "--dry-run")
        times.append(elapsed)
        found = re.search(r"(\d+) onboarding\(s\) selected", output)
        matched = found.group(1) if found else "0"
    print(
        f"dry run over {matched} matches of {total}: min {min(times):.2f} s, "
        f"median {statistics.median(times):.2f} s, max {max(times):.2f} s "
        f"({args.runs} runs, start-up included)"
    )
    elapsed, output = _onboarding("--db", url, *selection, "--key-prefix", "load-00", "--yes")
    batch = re.search(r"batch ([0-9a-f]{32}): resumed (\d+) of (\d+)", output)
    if batch is None:
        raise SystemExit(f"no batch line in: {output[-500:]}")
    audited = _count(
        url, select(func.count()).select_from(TRANSITIONS).where(
            TRANSITIONS.c.batch_id == batch.group(1)
        ),
    )  # fmt: skip
    applied = int(batch.group(2))
    print(
        f"real run: resumed {applied} of {batch.group(3)} in {elapsed:.2f} s "
        f"({elapsed / max(1, applied) * 1000:.2f} ms each, start-up included); "
        f"{audited} audit rows carry batch {batch.group(1)}"
    )
    workdir.cleanup()


if __name__ == "__main__":
    main()
