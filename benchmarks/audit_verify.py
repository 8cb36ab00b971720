"""``onboarding audit verify`` over a large database, timed end to end (start-up included).

python benchmarks/audit_verify.py [--count 100000] [--db sqlite:///big.db] [--repeat 3]

Builds the database with ``populate.py`` (or reuses ``--db`` when it already holds onboardings),
then runs the command as a user does, in a child process, ``--repeat`` times: wall time from
spawn to exit, CPU (user + system) and peak RSS come from the kernel (``wait4``). Prints
transitions checked per second of wall time and of CPU, the best of the runs, and the command's
own summary line. A database whose log does not verify is a failure.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

import engine_cli
from harness import run_measured
from persistence.db import make_engine
from persistence.rows import ONBOARDINGS, TRANSITIONS
from populate import populate


def _counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            onboardings = connection.execute(select(func.count()).select_from(ONBOARDINGS))
            transitions = connection.execute(select(func.count()).select_from(TRANSITIONS))
            return int(onboardings.scalar_one()), int(transitions.scalar_one())
    except SQLAlchemyError:  # no schema yet
        return 0, 0
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="onboardings (100000)")
    parser.add_argument("--db", help="database URL (default: a new SQLite file, removed after)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the command (3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audit-verify-") as workdir:
        url = args.db or f"sqlite:///{Path(workdir) / 'big.db'}"
        onboardings, transitions = _counts(url)
        if onboardings == 0:
            started = time.perf_counter()
            totals = populate(url, args.count)
            onboardings, transitions = totals["onboardings"], totals["transitions"]
            print(
                f"populate: {onboardings} onboardings, {transitions} transitions, "
                f"{totals['attempts']} attempts in {time.perf_counter() - started:.1f} s"
            )
        runs = []
        for _ in range(args.repeat):
            measured = run_measured(engine_cli.command("audit", "verify", db=url), timeout=600)
            if measured.returncode != 0:
                raise SystemExit(
                    f"audit verify exited {measured.returncode}: "
                    f"{''.join(measured.stdout[-3:]) + measured.tail()}"
                )
            runs.append(measured)
        best = min(runs, key=lambda m: m.wall_s)
        print(best.stdout[-1].strip())
        print(
            f"audit_verify: {onboardings} onboardings, {transitions} transitions "
            f"({make_url(url).get_backend_name()}): "
            f"end to end {best.wall_s:.2f} s = {transitions / best.wall_s:,.0f} transitions/s "
            f"(best of {len(runs)}; wall {', '.join(f'{m.wall_s:.2f}' for m in runs)} s), "
            f"CPU {best.cpu_s:.2f} s = {transitions / best.cpu_s:,.0f} transitions/s, "
            f"peak RSS {max(m.peak_rss_mib for m in runs):.0f} MiB"
        )


if __name__ == "__main__":
    main()
