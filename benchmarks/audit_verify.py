"""``onboarding audit verify`` over a large database, timed end to end (start-up included).

python benchmarks/audit_verify.py [--count 100000] [--repeat 3] [--db URL]

Builds a SQLite database of ``--count`` onboardings with ``populate.py`` in a child process (or
uses ``--db``, filled beforehand with ``populate.py``), then runs the command as a user does, in
a child process, ``--repeat`` times: wall time from spawn to exit, CPU (user + system) and peak
RSS come from the kernel (``wait4``). This process loads no database code, so its own size does
not leak into the children's peak RSS. Prints the command's own summary line, then transitions
per second of wall time and of CPU for the fastest run. A log that does not verify is a failure.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import engine_cli
from harness import run_measured

HERE = Path(__file__).resolve().parent
_SUMMARY = re.compile(r"(\d+) onboardings, (\d+) transitions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="onboardings (100000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the command (3)")
    parser.add_argument("--db", help="an already populated database (default: a new SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audit-verify-") as workdir:
        url = args.db or f"sqlite:///{Path(workdir) / 'big.db'}"
        if args.db is None:
            populate = [sys.executable, str(HERE / "populate.py"), url, "--count", str(args.count)]
            print(
                subprocess.run(populate, check=True, capture_output=True, text=True).stdout.strip()
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
        summary = best.stdout[-1].strip()
        found = _SUMMARY.search(summary)
        if found is None:
            raise SystemExit(f"no summary line from audit verify: {summary!r}")
        onboardings, transitions = int(found[1]), int(found[2])
        print(summary)
        print(
            f"audit_verify: {onboardings} onboardings, {transitions} transitions "
            f"({url.split(':', 1)[0]}): end to end {best.wall_s:.2f} s = "
            f"{transitions / best.wall_s:,.0f} transitions/s (best of {len(runs)}; wall "
            f"{', '.join(f'{m.wall_s:.2f}' for m in runs)} s), CPU {best.cpu_s:.2f} s = "
            f"{transitions / best.cpu_s:,.0f} transitions/s, peak RSS "
            f"{max(m.peak_rss_mib for m in runs):.0f} MiB"
        )


if __name__ == "__main__":
    main()
