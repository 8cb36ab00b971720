"""Engine transitions per second at zero API latency, next to the raw commit rate of the database.

Two engine figures. **Instant Sent**: the worker (``Worker.run(until_idle=True)``, in this
process) runs the own-brand TCR sample against an in-process Sent that answers at once
(``instant_sent.py``), so the rate is the engine's own work and its commits, nothing else.
**Sandbox over HTTP**: ``onboarding start``, then one ``onboarding worker --until-idle`` against
``onboarding sandbox serve`` at latency 0 (both processes share the machine's cores); its rate is
the rows the worker added to ``transitions`` over the worker's working time. In the same run
and on the same SQLite file (the settings of ``persistence.db.make_engine``: WAL,
``synchronous=NORMAL``), a loop of small transactions, each an UPDATE of one row plus one INSERT
of an audit-sized row committed on its own, gives the ceiling: once through SQLAlchemy Core,
once through ``sqlite3`` itself (the driver the engine's hot path uses, with the same pragmas).
Exits 1 when an onboarding did not finish.

    python benchmarks/commit_rate.py [--count 600] [--concurrency 16] [--commits 5000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import yaml

import engine_cli
from harness import SandboxProcess, run_measured, sandbox_problems
from persistence.db import make_engine
from tcr_path import CALLBACK_BASE_URL, documents

METADATA = sa.MetaData()
ROWS = sa.Table(
    "bench_rows", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)  # fmt: skip
AUDIT = sa.Table(
    "bench_audit", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("row_id", sa.Integer, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("from_state", sa.String(32)),
    sa.Column("to_state", sa.String(32), nullable=False),
    sa.Column("trigger", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("request_id", sa.String(64)),
    sa.Column("details", sa.JSON),
)  # fmt: skip
#: Roughly what the engine writes as ``details`` for one transition.
DETAILS = {"profile_id": "9ba4f00c-1d81-4429-9940-8a683d243152", "brand": "own", "rule": 2}


def count_transitions(url: str) -> int:
    """Rows in the engine's ``transitions`` table."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text("SELECT count(*) FROM transitions")).scalar_one())
    finally:
        engine.dispose()


def raw_commit_rate(url: str, commits: int, rows: int = 16) -> float:
    """Commits per second of UPDATE one row + INSERT one audit row, one transaction each."""
    engine = make_engine(url)
    METADATA.create_all(engine)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            ROWS.insert(),
            [{"id": i, "state": "pending", "version": 0, "updated_at": now} for i in range(rows)],
        )
    started = time.perf_counter()
    for n in range(commits):
        row_id = n % rows
        with engine.begin() as connection:
            connection.execute(
                ROWS.update()
                .where(ROWS.c.id == row_id)
                .values(version=ROWS.c.version + 1, state="brand", updated_at=datetime.now(UTC))
            )
            connection.execute(
                AUDIT.insert().values(
                    row_id=row_id, seq=n, from_state="incomplete", to_state="brand",
                    trigger="attach_brand", actor="worker", at=datetime.now(UTC),
                    request_id=f"req_{n:024d}", details=DETAILS,
                )
            )  # fmt: skip
    elapsed = time.perf_counter() - started
    engine.dispose()
    return commits / elapsed


def raw_driver_commit_rate(path: Path, commits: int, rows: int = 16) -> float:
    """As :func:`raw_commit_rate`, on ``sqlite3`` directly: the ceiling without SQLAlchemy."""
    import json
    import sqlite3

    connection = sqlite3.connect(path, timeout=10)
    for pragma in ("journal_mode=WAL", "busy_timeout=10000", "synchronous=NORMAL"):
        connection.execute(f"PRAGMA {pragma}")
    details = json.dumps(DETAILS)
    started = time.perf_counter()
    for n in range(commits):
        row_id = n % rows
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        connection.execute(
            "UPDATE bench_rows SET version = version + 1, state = ?, updated_at = ? WHERE id = ?",
            ("brand", now, row_id),
        )
        connection.execute(
            "INSERT INTO bench_audit (row_id, seq, from_state, to_state, trigger, actor, at, "
            "request_id, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row_id, n, "incomplete", "brand", "attach_brand", "worker", now,
             f"req_{n:024d}", details),
        )  # fmt: skip
        connection.commit()
    elapsed = time.perf_counter() - started
    connection.close()
    return commits / elapsed


def instant_engine_rate(workdir: Path, count: int, threads: int) -> tuple[int, float, float]:
    """Transitions, seconds and CPU seconds of the worker running ``count`` onboardings against
    an instant Sent, in this process."""
    import random
    from datetime import date

    from instant_sent import InstantSent
    from persistence.migrate import upgrade
    from persistence.store import SqlStore
    from workflow.adapters.vault import FernetVault
    from workflow.core.spec import OrganizationFacts, parse_spec
    from workflow.engine.executor import EngineConfig
    from workflow.engine.runner import Worker
    from workflow.management.onboardings import Onboardings

    url = f"sqlite:///{workdir / 'instant.db'}"
    engine = make_engine(url)
    upgrade(engine)
    store = SqlStore(engine)
    vault = FernetVault.generate()
    specs = [parse_spec(d, today=date.today()) for d in documents(count, "instant")]
    Onboardings(store, vault).start_many(specs)
    before = count_transitions(url)
    config = EngineConfig(
        callback_base_url=CALLBACK_BASE_URL, poll_interval=0.0,
        organization=OrganizationFacts(whatsapp_has_phone_number=True),
    )  # fmt: skip
    worker = Worker(
        store, InstantSent(), vault, config=config, concurrency=threads, poll_interval=0.05,
        rng=random.Random(1),
    )  # fmt: skip
    cpu, started = time.process_time(), time.perf_counter()
    idle = worker.run(until_idle=True, max_seconds=600)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    done = count_transitions(url) - before
    engine.dispose()
    if not idle:
        sys.exit("the instant-Sent run did not finish")
    return done, elapsed, cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--poll-interval", type=float, default=0.05, help="Claim poll (s).")
    parser.add_argument("--completion-poll", type=float, default=0.1)
    parser.add_argument("--commits", type=int, default=5000)
    parser.add_argument("--instant-threads", type=int, default=4)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="commit-rate-") as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'engine.db'}"
        env = engine_cli.environment(
            workdir, callback_base_url=CALLBACK_BASE_URL, completion_poll=args.completion_poll
        )
        specs = workdir / "specs.yaml"
        specs.write_text(yaml.safe_dump(documents(args.count, "rate")), encoding="utf-8")
        with SandboxProcess(workdir, latency_ms=0) as sandbox:
            engine_cli.upgrade(url, env)
            start = run_measured(engine_cli.start_command(url, specs), env=env)
            if start.returncode != 0:
                sys.exit(f"onboarding start failed: {start.tail()}")
            before = count_transitions(url)
            worker = run_measured(
                engine_cli.worker_command(
                    url, sandbox.url, concurrency=args.concurrency, poll_interval=args.poll_interval
                ),
                env=env, ready_marker=engine_cli.READY_MARKER,
                done_marker=engine_cli.DONE_MARKER, timeout=300,
            )  # fmt: skip
            problems = sandbox_problems(sandbox.state(), args.count)
        if worker.returncode != 0:
            problems.append(f"worker exited {worker.returncode}: {worker.tail()}")
        transitions = count_transitions(url) - before
        engine_rate = transitions / worker.work_s
        instant, instant_s, instant_cpu = instant_engine_rate(
            workdir, args.count, args.instant_threads
        )
        raw_rate = raw_commit_rate(url, args.commits)
        driver_rate = raw_driver_commit_rate(workdir / "engine.db", args.commits)
    instant_rate = instant / instant_s
    print(
        f"commit rate [SQLite WAL synchronous=NORMAL, {args.count} onboardings]:\n"
        f"  engine, instant Sent ({args.instant_threads} threads): {instant} transitions in "
        f"{instant_s:.2f} s = {instant_rate:.0f} transitions/s "
        f"({instant_cpu * 1000 / instant:.2f} ms CPU/transition)\n"
        f"  engine, sandbox over HTTP at latency 0 (concurrency {args.concurrency}): "
        f"{transitions} transitions in {worker.work_s:.2f} s = {engine_rate:.0f} "
        f"transitions/s ({args.count / worker.work_s:.1f} onboardings/s, worker CPU "
        f"{worker.cpu_s * 1000 / transitions:.1f} ms/transition)\n"
        f"  raw:    {args.commits} commits (UPDATE 1 row + INSERT 1 audit row) = {raw_rate:.0f} "
        f"commits/s (SQLAlchemy Core), {driver_rate:.0f} commits/s (sqlite3)\n"
        f"  engine/raw (Core): instant Sent {instant_rate / raw_rate:.2f}, "
        f"sandbox over HTTP {engine_rate / raw_rate:.2f}\n"
        f"  engine/raw (sqlite3): instant Sent {instant_rate / driver_rate:.2f}, "
        f"sandbox over HTTP {engine_rate / driver_rate:.2f}\n"
        f"  load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    for problem in problems:
        print(f"FAILED {problem}", file=sys.stderr)
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
