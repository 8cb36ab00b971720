"""Every benchmark with the figures the README reports. ``make bench`` runs it.

Set ONBOARDING_BENCH_POSTGRES_URL to add the PostgreSQL run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _run(*args: str) -> None:
    subprocess.run([sys.executable, *args], check=True)


def main() -> None:
    _run(str(HERE / "core.py"))
    _run(str(HERE / "throughput.py"), "--count", "200", "--latency-ms", "50")
    _run(str(HERE / "throughput.py"), "--count", "200", "--latency-ms", "50", "--fault-rate", "0.3")
    postgres = os.environ.get("ONBOARDING_BENCH_POSTGRES_URL")
    if postgres:
        _run(str(HERE / "throughput.py"), "--count", "200", "--latency-ms", "50", "--db", postgres)


if __name__ == "__main__":
    main()
