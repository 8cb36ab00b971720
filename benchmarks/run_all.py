"""Every benchmark with the figures the README reports. ``make bench`` runs it.

PostgreSQL runs use ONBOARDING_BENCH_POSTGRES_URL (``pg_workers.py`` falls back to the local
``test_bench`` database and is skipped, with a note, when no PostgreSQL answers there).
``resilience.py`` waits out real backoffs for about nine minutes: ``ONBOARDING_BENCH_LONG=1``
adds it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _run(*args: str) -> None:
    print(flush=True)
    subprocess.run([sys.executable, *args], check=True)


def _postgres_answers(url: str) -> bool:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def main() -> None:
    _run(str(HERE / "core.py"))
    _run(str(HERE / "throughput.py"), "--count", "200", "--latency-ms", "50")
    _run(str(HERE / "throughput.py"), "--count", "200", "--latency-ms", "50", "--fault-rate", "0.3")
    postgres = os.environ.get("ONBOARDING_BENCH_POSTGRES_URL")
    if postgres:
        _run(str(HERE / "throughput.py"), "--count", "200", "--latency-ms", "50", "--db", postgres)
    _run(str(HERE / "compare.py"))
    _run(str(HERE / "commit_rate.py"))
    sys.path.insert(0, str(HERE))
    from pg_workers import postgres_url

    if _postgres_answers(postgres_url()):
        _run(str(HERE / "pg_workers.py"))
        _run(str(HERE / "rate_limit.py"))  # about four minutes: Sent's limit sets the pace
    else:
        print("\npg_workers: skipped, no PostgreSQL answers (set ONBOARDING_BENCH_POSTGRES_URL)")
        print("rate_limit: skipped, no PostgreSQL answers (set ONBOARDING_BENCH_POSTGRES_URL)")
    _run(str(HERE / "outbox.py"))
    _run(str(HERE / "operators.py"), "--repeat", "5", "--finished", "200000")
    _run(str(HERE / "bulk.py"))
    _run(str(HERE / "audit_verify.py"))
    _run(str(HERE / "console.py"))
    if os.environ.get("ONBOARDING_BENCH_LONG"):
        _run(str(HERE / "resilience.py"))  # about nine minutes of real waiting
    else:
        print("\nresilience: skipped (ONBOARDING_BENCH_LONG=1 runs it: about nine minutes)")


if __name__ == "__main__":
    main()
