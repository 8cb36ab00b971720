"""The store's own cost per call, without an engine: what one worker's database work takes.

On a fresh SQLite file (and on ``--postgres URL``, its tables reset), ``--onboardings``
onboardings are started, then each operation runs ``--calls`` times, best of ``--repeat``
rounds, in this process:

* ``apply whole``: a transition shaped like the executor's (audit row, outbox event, one
  attempt), the writer holding the checkpoint (``Change.base``);
* ``apply partial``: the same change without the checkpoint (an operator's change);
* ``claim``: lease up to 16 due onboardings with their step records, then give them back;
* ``read_secret`` and ``load``: one onboarding's sealed secret, its checkpoint and records.

Figures are microseconds per call (lower is better), printed, never asserted.

    python benchmarks/store_ops.py [--postgres URL] [--calls 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from outbox import VAULT, change_of, specs
from persistence import SqlStore, make_engine, upgrade
from workflow import Onboardings
from workflow.ports import Checkpoint


def per_call(work: Callable[[int], None], calls: int, repeat: int) -> float:
    """Microseconds per call of ``work(n)``, best of ``repeat`` rounds of ``calls`` calls."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for n in range(calls):
            work(n)
        best = min(best, (time.perf_counter() - started) / calls)
    return best * 1e6


def measure(url: str, args: argparse.Namespace, label: str) -> dict[str, float]:
    engine = make_engine(url)
    upgrade(engine)
    store = SqlStore(engine)
    stamp = int(time.time())
    started = Onboardings(store, VAULT).start_many(specs(args.onboardings, f"ops-{stamp}"))
    current: list[Checkpoint] = [c for c, _ in started]

    def whole(n: int) -> None:
        index = n % len(current)
        current[index] = store.apply(change_of(current[index], n))

    def partial(n: int) -> None:
        index = n % len(current)
        change = dataclasses.replace(change_of(current[index], n), base=None)
        current[index] = store.apply(change)

    later = datetime.now(UTC) + timedelta(days=1)

    def claim(n: int) -> None:
        claims = store.claim("bench", later + timedelta(seconds=n), 30, 16)
        for held in claims:
            store.release(held.checkpoint.id, "bench")

    def secret(n: int) -> None:
        store.read_secret(current[n % len(current)].id)

    def load(n: int) -> None:
        store.load(current[n % len(current)].id)

    figures = {
        "apply whole": per_call(whole, args.calls, args.repeat),
        "apply partial": per_call(partial, args.calls, args.repeat),
        "claim 16": per_call(claim, max(1, args.calls // 10), args.repeat),
        "read_secret": per_call(secret, args.calls, args.repeat),
        "load": per_call(load, args.calls, args.repeat),
    }
    print(f"{label}: " + ", ".join(f"{name} {us:.0f} us" for name, us in figures.items()))
    engine.dispose()
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", help="also measure on this PostgreSQL URL (tables reset)")
    parser.add_argument("--onboardings", type=int, default=64)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ops.db"
        measure(f"sqlite:///{path}", args, "SQLite")
    if args.postgres:
        engine = make_engine(args.postgres)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        measure(args.postgres, args, "PostgreSQL")


if __name__ == "__main__":
    main()
