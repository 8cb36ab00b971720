"""Worker heartbeats: each worker keeps its row in ``workers``; ``onboarding workers`` reads it."""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from typing import Any

from persistence.dbapi import Database, locate
from persistence.reader import SqlReader
from tests.cli_process import environment, run
from tests.conftest import Harness
from workflow.engine.runner import HEARTBEAT_SECONDS
from workflow.ports import WorkerPresence


def _rows(url: str) -> dict[str, dict[str, Any]]:
    with SqlReader(Database(locate(url))) as reader:
        return {row["id"]: row for row in reader.workers()}


def test_a_tick_records_who_the_worker_is_and_how_busy(
    harness: Harness, database_url_for_test: str, samples: dict[str, Any]
) -> None:
    """The first tick writes id, host, pid, package version, concurrency and in-flight count."""
    harness.start(samples["demo-inherited"])
    harness.worker.tick()
    row = _rows(database_url_for_test)[harness.worker.owner]
    assert (row["host"], row["pid"]) == (socket.gethostname(), os.getpid())
    assert row["version"] == version("sent-onboarding")
    assert (row["concurrency"], row["in_flight"]) == (4, 1)
    assert row["started_at"] == row["last_seen"] == harness.clock.now()
    assert row["stopped_at"] is None
    assert row["heartbeat_seconds"] == HEARTBEAT_SECONDS


def test_heartbeats_are_written_at_most_every_few_seconds(
    harness: Harness, database_url_for_test: str
) -> None:
    """Ticks within HEARTBEAT_SECONDS leave the row alone; the next one after it moves last_seen."""
    harness.worker.tick()
    first = harness.clock.now()
    harness.clock.advance(HEARTBEAT_SECONDS / 2)
    harness.worker.tick()
    assert _rows(database_url_for_test)[harness.worker.owner]["last_seen"] == first
    harness.clock.advance(HEARTBEAT_SECONDS / 2)
    harness.worker.tick()
    row = _rows(database_url_for_test)[harness.worker.owner]
    assert row["last_seen"] == harness.clock.now()
    assert row["started_at"] == first


def test_a_clean_stop_marks_the_worker_stopped(
    harness: Harness, database_url_for_test: str
) -> None:
    """Closing a worker that has ticked records stopped_at and nothing in flight."""
    harness.worker.tick()
    harness.clock.advance(1)
    harness.worker.close()
    row = _rows(database_url_for_test)[harness.worker.owner]
    assert row["stopped_at"] == harness.clock.now()
    assert row["in_flight"] == 0


def _presence(name: str, seen: datetime, *, stopped: bool = False) -> WorkerPresence:
    return WorkerPresence(
        id=name, host="host-a", pid=100, version="9.9", started_at=seen - timedelta(hours=1),
        last_seen=seen, concurrency=8, in_flight=3, heartbeat_seconds=5.0,
        stopped_at=seen if stopped else None,
    )  # fmt: skip


def test_workers_command_tells_live_dead_and_stopped_workers(
    harness: Harness, database_url_for_test: str
) -> None:
    """Seen now: live; silent for more than three heartbeats: dead; stopped cleanly: stopped."""
    now = datetime.now(UTC)
    harness.store.record_worker(_presence("w-live", now))
    harness.store.record_worker(_presence("w-dead", now - timedelta(seconds=16)))
    harness.store.record_worker(_presence("w-stopped", now - timedelta(minutes=5), stopped=True))
    harness.store.record_worker(_presence("w-old", now - timedelta(days=3), stopped=True))
    result = run("--db", database_url_for_test, "workers", "--json", env=environment())
    assert result.returncode == 0, result.stderr
    rows = {r["id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert {name: r["status"] for name, r in rows.items()} == {
        "w-live": "live", "w-dead": "dead", "w-stopped": "stopped",
    }  # fmt: skip
    assert rows["w-live"]["in_flight"] == 3
    assert rows["w-dead"]["seen_seconds_ago"] >= 16
    every = run("--db", database_url_for_test, "workers", "--json", "--all", env=environment())
    assert "w-old" in every.stdout
    table = run("--db", database_url_for_test, "workers", env=environment()).stdout
    assert all(len(line) <= 80 for line in table.splitlines())
    assert "w-dead" in table
    assert "1 live" in table
