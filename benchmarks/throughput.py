"""End-to-end throughput: N onboardings through the worker against the sandbox over HTTP.

Prints wall time, onboardings per second, per-onboarding latency percentiles, Sent mutations
executed versus replayed, and the process's peak RSS. Usage:

    python benchmarks/throughput.py [--count 200] [--concurrency 16] [--latency-ms 50]
        [--fault-rate 0.3] [--db sqlite:///bench.db | postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import copy
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from persistence.db import make_engine
from persistence.migrate import upgrade
from persistence.store import SqlStore
from workflow.adapters.sent_client import HttpxSentApi
from workflow.adapters.vault import FernetVault
from workflow.core.backoff import RetryPolicy
from workflow.core.clock import SystemClock
from workflow.core.spec import OrganizationFacts, load_documents, parse_spec
from workflow.engine.callbacks import create_callback_app
from workflow.engine.executor import EngineConfig
from workflow.engine.runner import Worker
from workflow.management.onboardings import Onboardings
from workflow.sandbox import FaultConfig, OrganizationConfig, Sandbox, ServerThread

SAMPLES = Path(__file__).resolve().parent.parent / "workflow" / "samples" / "demo.yaml"


def _reset(url: str) -> None:
    if url.startswith("postgresql"):
        from sqlalchemy import text
        from sqlmodel import SQLModel

        import persistence.models  # noqa: F401

        engine = make_engine(url)
        with engine.begin() as connection:
            SQLModel.metadata.drop_all(connection)
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        engine.dispose()


def run(
    count: int, concurrency: int, latency_ms: float, fault_rate: float, url: str
) -> dict[str, float]:
    """Run ``count`` onboardings and return the measured figures."""
    _reset(url)
    engine_db = make_engine(url, pool_size=concurrency + 4)
    upgrade(engine_db)
    store = SqlStore(engine_db)
    vault = FernetVault.generate()
    clock = SystemClock()
    raw = [d for d in load_documents(SAMPLES) if d["key"] != "demo-prerequisite-pause"]  # type: ignore[index]
    faults = FaultConfig(
        latency_ms=latency_ms,
        error_rates={500: fault_rate / 3, 503: fault_rate / 3, 429: fault_rate / 3}
        if fault_rate
        else {},
        retry_after=0.2,
        seed=1,
    )
    sandbox = Sandbox(OrganizationConfig(completion_delay_seconds=0.2), faults)
    with ServerThread(sandbox.app) as sent, ServerThread(create_callback_app(store, vault)) as hook:
        api = HttpxSentApi(sent.url, "sandbox-key", timeout=10, max_connections=concurrency * 2)
        config = EngineConfig(
            callback_base_url=hook.url, poll_interval=0.5, completion_timeout=120,
            retry=RetryPolicy(
                initial=0.1, cap=2.0, max_attempts=20, max_elapsed=300, retry_after_cap=1
            ),
            organization=OrganizationFacts(whatsapp_has_phone_number=True),
        )  # fmt: skip
        onboardings = Onboardings(store, vault, clock=clock)
        today = clock.now().date()
        ids = []
        for index in range(count):
            doc = copy.deepcopy(raw[index % len(raw)])
            doc["key"] = f"bench-{index}"
            doc["profile"]["name"] = f"{doc['profile']['name']} {index}"
            ids.append(onboardings.start(parse_spec(doc, today=today)).id)
        started = time.monotonic()
        Worker(
            store, api, vault, config=config, clock=clock, concurrency=concurrency,
            poll_interval=0.02,
        ).run(until_idle=True, max_seconds=600)  # fmt: skip
        wall = time.monotonic() - started
        api.close()
    rows = [store.get(i) for i in ids]
    durations = sorted(
        ((r.finished_at or r.updated_at) - r.created_at).total_seconds() for r in rows
    )
    snapshot = sandbox.snapshot()
    sandbox.close()
    finished = sum(r.state in ("submitted", "completed") for r in rows)
    created = snapshot["mutations"].get("create_profile executed", 0)
    return {
        "onboardings": count,
        "finished": finished,
        "wall_s": round(wall, 2),
        "per_second": round(count / wall, 1),
        "p50_s": round(statistics.median(durations), 2),
        "p95_s": round(durations[int(len(durations) * 0.95) - 1], 2),
        "profiles_created_at_sent": created,
        "replayed": sum(v for k, v in snapshot["mutations"].items() if k.endswith("replayed")),
        "faulted": sum(v for k, v in snapshot["mutations"].items() if k.endswith("faulted")),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--db", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.db"
        figures = run(args.count, args.concurrency, args.latency_ms, args.fault_rate, url)
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(
        f"throughput[{backend}, latency {args.latency_ms:g} ms, faults {args.fault_rate:.0%}, "
        f"concurrency {args.concurrency}]: " + ", ".join(f"{k}={v}" for k, v in figures.items())
    )
    if (
        figures["finished"] != figures["onboardings"]
        or figures["profiles_created_at_sent"] != args.count
    ):
        print("FAILED: not every onboarding finished exactly once", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
