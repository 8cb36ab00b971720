"""What the transition outbox costs on the commit path, and how fast a subscriber drains it.

Commit path: ``--onboardings`` onboardings are started, then ``--transitions`` transitions are
committed through ``SqlStore.apply`` exactly as the executor commits them (the checkpoint's
columns through the prepared statement, a chained audit row, one attempt), round robin over the
onboardings, from ``--threads`` threads. The same work runs with the outbox write and with it
replaced by nothing, alternating ``--repeat`` times; each keeps its best rate.

Delivery: a :class:`workflow.Subscriber` with a handler that does nothing (its position moves
once per batch), ``async for`` over ``AsyncOnboardings.events`` and ``for`` over
``Onboardings.events`` (each records its position once per event), each draining every event
from the start under a fresh name.

    python benchmarks/outbox.py [--postgres URL] [--transitions 3000] [--threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import persistence.store
from persistence import SqlStore, make_engine, upgrade
from workflow import AsyncOnboardings, Onboardings, Subscriber
from workflow.adapters.vault import FernetVault
from workflow.core.audit_chain import chained
from workflow.core.spec import OnboardingSpec, load_documents, parse_spec
from workflow.ports import AttemptRecord, AuditEntry, Change, Checkpoint, CheckpointUpdate

SAMPLES = Path(__file__).resolve().parent.parent / "workflow" / "samples" / "demo.yaml"
STATES = ("incomplete", "brand", "campaigns", "complete")
TRIGGERS = ("create_profile", "attach_brand", "attach_campaigns", "request_completion")
#: Seals nothing here; anchors the audit rows the benchmark commits.
VAULT = FernetVault.generate()


def specs(count: int, prefix: str) -> list[OnboardingSpec]:
    raw = next(d for d in load_documents(SAMPLES) if d["key"] == "demo-own-brand-tcr")  # type: ignore[index]
    today = datetime.now(UTC).date()
    return [parse_spec({**raw, "key": f"{prefix}-{n}"}, today=today) for n in range(count)]  # type: ignore[dict-item]


def change_of(checkpoint: Checkpoint, n: int) -> Change:
    """The next transition of ``checkpoint``, shaped like the executor's."""
    now = datetime.now(UTC)
    step = n % len(STATES)
    entry = chained(
        checkpoint,
        AuditEntry(
            TRIGGERS[step], checkpoint.state, STATES[step], "worker:bench", now,
            request_id=f"req_{n:020d}", details={"rule": 2, "brand": "own"},
            profile_id="9ba4f00c-1d81-4429-9940-8a683d243152",
        ),
        VAULT,
    )  # fmt: skip
    attempt = AttemptRecord(
        TRIGGERS[step], 1, "PATCH", "/v3/profiles/x", now, 42.0, "ok",
        idempotency_key=f"onb-{checkpoint.id}-{step}-g0", http_status=200,
    )  # fmt: skip
    update = CheckpointUpdate(state=STATES[step], attempts=0, next_attempt_at=now)
    return Change(checkpoint.id, checkpoint.version, now, update, entry, attempts=(attempt,),
                  base=checkpoint)  # fmt: skip


def commit_rate(
    store: SqlStore, checkpoints: list[Checkpoint], transitions: int, threads: int
) -> float:
    """Transitions per second committed by ``threads`` threads, each on its own onboardings."""
    shares = [checkpoints[i::threads] for i in range(threads)]
    per_thread = transitions // threads

    def work(mine: list[Checkpoint]) -> list[Checkpoint]:
        current = list(mine)
        for n in range(per_thread):
            index = n % len(current)
            current[index] = store.apply(change_of(current[index], n))
        return current

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(work, shares))
    elapsed = time.perf_counter() - started
    checkpoints[:] = [c for share in results for c in share]
    return per_thread * threads / elapsed


def drain_rate(store: SqlStore, name: str, total: int) -> float:
    """Events per second a Subscriber with an empty handler delivers, from the start."""
    seen = threading.Event()
    count = [0]

    def handler(_event: Any) -> None:
        count[0] += 1
        if count[0] >= total:
            seen.set()

    started = time.perf_counter()
    with Subscriber(store, name, handler, batch_size=500, poll_interval=0.01):
        seen.wait(300)
    return count[0] / (time.perf_counter() - started)


def follow_rate(onboardings: Onboardings, name: str, total: int) -> float:
    """Events per second ``for`` over ``Onboardings.events`` yields, from the start."""
    started = time.perf_counter()
    got = 0
    for _event in onboardings.events(name, batch_size=500, poll_interval=0.01):
        got += 1
        if got >= total:
            break
    return got / (time.perf_counter() - started)


def iterate_rate(onboardings: AsyncOnboardings, name: str, total: int) -> float:
    """Events per second ``async for`` yields, from the start."""

    async def drain() -> int:
        got = 0
        async for _event in onboardings.events(name, batch_size=500, poll_interval=0.01):
            got += 1
            if got >= total:
                break
        return got

    started = time.perf_counter()
    got = asyncio.run(drain())
    return got / (time.perf_counter() - started)


def measure(url: str, args: argparse.Namespace, label: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    store = SqlStore(engine)
    onboardings = Onboardings(store, VAULT)
    stamp = int(time.time())
    checkpoints = [c for c, _ in onboardings.start_many(specs(args.onboardings, f"bench-{stamp}"))]
    real_publish: Callable[..., None] = persistence.store.publish
    best = {"with outbox": 0.0, "without": 0.0}
    for _ in range(args.repeat):
        for mode in best:
            persistence.store.publish = real_publish if mode == "with outbox" else (lambda *a: None)  # type: ignore[assignment]
            try:
                rate = commit_rate(store, checkpoints, args.transitions, args.threads)
            finally:
                persistence.store.publish = real_publish  # type: ignore[assignment]
            best[mode] = max(best[mode], rate)
    total = store.count_events()
    delivered = drain_rate(store, f"bench-sub-{stamp}", total)
    iterated = iterate_rate(AsyncOnboardings(store, VAULT), f"bench-iter-{stamp}", total)
    followed = follow_rate(onboardings, f"bench-for-{stamp}", total)
    cost = (1 / best["with outbox"] - 1 / best["without"]) * 1e6
    print(
        f"{label} ({args.threads} thread(s), {args.transitions} transitions, best of "
        f"{args.repeat}):\n"
        f"  commit path: {best['with outbox']:.0f} transitions/s with the outbox, "
        f"{best['without']:.0f} without ({cost:+.0f} us per transition, "
        f"{(best['without'] / best['with outbox'] - 1) * 100:+.1f}%)\n"
        f"  delivery ({total} events): Subscriber {delivered:.0f} events/s (position moved per "
        f"batch), async for {iterated:.0f} events/s, for {followed:.0f} events/s (per event)"
    )
    engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="also measure on this PostgreSQL URL (tables reset)")
    parser.add_argument("--onboardings", type=int, default=64)
    parser.add_argument("--transitions", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="outbox-") as tmp:
        measure(f"sqlite:///{Path(tmp) / 'bench.db'}", args, "SQLite (WAL, synchronous=NORMAL)")
    if args.postgres:
        measure(args.postgres, args, "PostgreSQL")


if __name__ == "__main__":
    main()
