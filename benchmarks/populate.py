"""Fill a database with many onboardings in realistic states, fast, for the benchmarks.

python benchmarks/populate.py DB_URL --count 100000 [--seed 1]

The database is migrated first and must hold no onboardings. Rows go in through SQLAlchemy
Core in large batches: every onboarding gets a checkpoint that matches its audit log (state,
``paused_from``, ``audit_seq``, ``audit_head`` and ``audit_anchor``), a hash-chained
transition per move (computed with :mod:`workflow.core.audit_chain`, so ``history`` verifies, and
anchored with the database's secret key: the key file beside a SQLite file, created if missing, else
``ONBOARDING_SECRET_KEY``), and the API attempts its steps made. Of every 100 onboardings
(shuffled): 58 pending, 8 incomplete, 2 incomplete and retrying after 503s (their lease held
by a worker that stopped), 3 brand, 2 campaigns, 3 complete (waiting for Sent), 3 submitted,
4 completed, 10 paused from complete with COMPLETION_TIMEOUT, 2 paused from campaigns with
PREREQUISITES, 2 paused from pending with VALIDATION_001, 2 cancelled and 1 cancelling: about
2.3 transitions each. Keys are
``load-000000`` ... and times spread over the last 30 days (pauses between 10 minutes and 3
days ago). Prints what it wrote and how long it took.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from persistence.db import make_engine, safe_url
from persistence.migrate import upgrade
from persistence.rows import (
    ATTEMPTS,
    CHECKPOINT_COLUMNS,
    ONBOARDINGS,
    TRANSITIONS,
    attempt_values,
    transition_values,
)
from workflow.adapters.vault import FernetVault
from workflow.core.audit_chain import ANCHOR_START, GENESIS, digest
from workflow.core.spec import load_documents, parse_spec
from workflow.flows import FLOW
from workflow.ports import Anchoring, AttemptRecord, AuditEntry, Checkpoint

SAMPLES = Path(__file__).resolve().parent.parent / "workflow" / "samples" / "demo.yaml"
BATCH = 2000
WORKERS = ("w1", "w2", "w3", "w4")


@dataclass(frozen=True)
class Scenario:
    """Where an onboarding stands: the path states it passed, then how it ended up."""

    name: str
    share: int  # of every 100
    reached: str  # the furthest path state
    end: str | None = None  # "pause", "cancel", "cancel_delete", "submitted", "completed"
    code: str | None = None
    retrying: bool = False


SCENARIOS = (
    Scenario("pending", 58, "pending"),
    Scenario("incomplete", 8, "incomplete"),
    Scenario("retrying", 2, "incomplete", retrying=True, code="SERVER_ERROR"),
    Scenario("brand", 3, "brand"),
    Scenario("campaigns", 2, "campaigns"),
    Scenario("complete", 3, "complete"),
    Scenario("submitted", 3, "complete", end="submitted"),
    Scenario("completed", 4, "complete", end="completed"),
    Scenario("timeout", 10, "complete", end="pause", code="COMPLETION_TIMEOUT"),
    Scenario("prerequisites", 2, "campaigns", end="pause", code="PREREQUISITES"),
    Scenario("refused", 2, "pending", end="pause", code="VALIDATION_001"),
    Scenario("cancelled", 2, "pending", end="cancel"),
    Scenario("cancelling", 1, "incomplete", end="cancel_delete"),
)
assert sum(s.share for s in SCENARIOS) == 100

REASONS = {
    "COMPLETION_TIMEOUT": "no completion result by the deadline; 'onboarding resume' waits again",
    "PREREQUISITES": "prerequisites not met: a campaign is required",
    "VALIDATION_001": "non-retryable error: VALIDATION_001 profile.name is required",
}


def _samples() -> list[dict[str, Any]]:
    specs = [parse_spec(doc, today=date.today()) for doc in load_documents(SAMPLES)]
    return [spec.storable() for spec in specs]


def _fingerprint(spec: dict[str, Any]) -> str:
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class Builder:
    """Makes the rows of one onboarding at a time, deterministically from a seed."""

    def __init__(self, seed: int, now: datetime, anchoring: Anchoring) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.anchoring = anchoring
        self.samples = _samples()
        self.path = FLOW.machine.path

    def _id(self) -> str:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4).hex

    def build(self, index: int, scenario: Scenario) -> tuple[dict[str, Any], list[Any], list[Any]]:
        """The checkpoint row, transition rows and attempt rows of onboarding ``index``."""
        rng = self.rng
        onboarding_id = self._id()
        key = f"load-{index:06d}"
        spec = {**self.samples[index % len(self.samples)], "key": key}
        worker = WORKERS[index % len(WORKERS)]
        ago = timedelta(minutes=rng.uniform(10, 3 * 24 * 60))
        if scenario.end is None or scenario.end.startswith("cancel"):
            ago = timedelta(seconds=rng.uniform(60, 30 * 86400))
        took = timedelta(seconds=rng.uniform(120, 7200))  # from the start to the last move
        created = self.now - ago - took
        moves: list[tuple[str, str | None, str, str, str | None, dict[str, Any] | None]] = [
            ("start", None, self.path[0], "api", None, {"key": key})
        ]
        profile_id = f"prof_{onboarding_id[:20]}" if scenario.reached != self.path[0] else None
        for source, dest in zip(self.path, self.path[1:], strict=False):
            if self.path.index(dest) > self.path.index(scenario.reached):
                break
            trigger = FLOW.machine.step_trigger(source) or source
            moves.append((trigger, source, dest, f"worker:{worker}", None, None))
        attempts = []
        if profile_id is not None:
            attempts.append(
                AttemptRecord(
                    "create_profile", 1, "POST", "/v3/profiles", created, 180.0, "ok",
                    idempotency_key=f"onb-{onboarding_id}-profile-0-g0", http_status=201,
                    resource_id=profile_id,
                )
            )  # fmt: skip
        reached = scenario.reached
        state, paused_from, last_error = reached, None, None
        if scenario.end in ("submitted", "completed"):
            moves.append(("conclude", reached, scenario.end, f"worker:{worker}", None, None))
            state = scenario.end
        elif scenario.end == "pause":
            reason = REASONS[scenario.code or ""]
            details = {"code": scenario.code}
            moves.append(("pause", reached, "needs_attention", f"worker:{worker}", reason, details))
            state, paused_from, last_error = (
                "needs_attention",
                reached,
                {"reason": reason, **details},
            )
        elif scenario.end is not None:
            delete = scenario.end == "cancel_delete"
            state = "cancelling" if delete else "cancelled"
            details = {"delete_at_sent": delete}
            moves.append(("cancel", reached, state, "alice", "duplicate request", details))
        transitions = []
        head, anchor, at = GENESIS, ANCHOR_START, created
        for number, (trigger, source, dest, actor, reason, details) in enumerate(moves):
            at = created + took * (number / max(1, len(moves) - 1))
            entry = AuditEntry(
                trigger, source, dest, actor, at, reason=reason, details=details,
                profile_id=profile_id if source is not None else None, seq=number + 1,
            )  # fmt: skip
            head = digest(onboarding_id, entry, head)
            anchor = self.anchoring.anchor(onboarding_id, number + 1, head, anchor)
            transitions.append({**transition_values(onboarding_id, entry), "digest": head})
        terminal = state in FLOW.machine.terminal_states
        active = state in FLOW.machine.active_states
        lease_owner = lease_expires = None
        attempts_count = 0
        if scenario.retrying:
            attempts_count = 2
            last_error = {"code": scenario.code, "message": "Service unavailable", "attempts": 2}
            lease_owner, lease_expires = worker, at + timedelta(seconds=60)
            for n in (1, 2):
                attempts.append(
                    AttemptRecord(
                        "attach_brand", n, "PATCH", f"/v3/profiles/{profile_id}", at, 95.0,
                        "retry", http_status=503, error_code="SERVER_ERROR",
                    )
                )  # fmt: skip
        if scenario.code == "COMPLETION_TIMEOUT":
            for n in (1, 2, 3):
                attempts.append(
                    AttemptRecord(
                        "await_outcome", n, "GET", f"/v3/profiles/{profile_id}", at, 40.0, "ok",
                        http_status=200,
                    )
                )  # fmt: skip
        complete = self.path.index(reached) >= self.path.index("complete")
        row = Checkpoint(
            id=onboarding_id,
            key=key,
            fingerprint=_fingerprint(spec),
            spec=spec,
            version=2 * len(moves) - 1,
            created_at=created,
            updated_at=at,
            flow_version=FLOW.version,
            created_by="api",
            audit_seq=len(moves),
            audit_head=head,
            audit_anchor=anchor,
            state=state,
            paused_from=paused_from,
            profile_id=profile_id,
            attempts=attempts_count,
            next_attempt_at=(at + timedelta(seconds=rng.uniform(0, 120))) if active else None,
            last_error=last_error,
            predicted_outcome="submitted" if complete else None,
            actual_outcome=state if state in ("submitted", "completed") else None,
            completion_deadline=at + timedelta(hours=1) if complete else None,
            wake_on_callback=state == "complete",
            finished_at=at if terminal else None,
            lease_owner=lease_owner,
            lease_expires_at=lease_expires,
        )
        values = {c.name: getattr(row, c.name) for c in CHECKPOINT_COLUMNS}
        values["spec"] = dict(row.spec)
        return values, transitions, [attempt_values(onboarding_id, a) for a in attempts]


def _plan(count: int, seed: int) -> Iterator[Scenario]:
    rng = random.Random(seed + 1)
    cycle = [s for s in SCENARIOS for _ in range(s.share)]
    for start in range(0, count, 100):
        rng.shuffle(cycle)
        yield from cycle[: min(100, count - start)]


def populate(
    url: str,
    count: int,
    seed: int = 1,
    now: datetime | None = None,
    anchoring: Anchoring | None = None,
) -> dict[str, int]:
    """Migrate ``url`` and write ``count`` onboardings; returns rows written per table.

    ``anchoring`` anchors the logs (by default the database's key, as the CLI finds it).

    Raises:
        SystemExit: the database already holds onboardings.
    """
    engine = make_engine(url)
    upgrade(engine)
    with engine.connect() as connection:
        existing = connection.execute(select(func.count()).select_from(ONBOARDINGS)).scalar_one()
    if existing:
        raise SystemExit(f"{safe_url(url)} already holds {existing} onboardings: use a new one")
    if anchoring is None:
        anchoring = FernetVault.from_environment(db_url=url)
    builder = Builder(seed, now or datetime.now(UTC), anchoring)
    written = {"onboardings": 0, "transitions": 0, "attempts": 0}
    rows: list[dict[str, Any]] = []
    transitions: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []

    def flush() -> None:
        with engine.begin() as connection:
            connection.execute(insert(ONBOARDINGS), rows)
            connection.execute(insert(TRANSITIONS), transitions)
            if attempts:
                connection.execute(insert(ATTEMPTS), attempts)
        written["onboardings"] += len(rows)
        written["transitions"] += len(transitions)
        written["attempts"] += len(attempts)
        rows.clear()
        transitions.clear()
        attempts.clear()

    for index, scenario in enumerate(_plan(count, seed)):
        row, moved, tried = builder.build(index, scenario)
        rows.append(row)
        transitions.extend(moved)
        attempts.extend(tried)
        if len(rows) >= BATCH:
            flush()
    if rows:
        flush()
    engine.dispose()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="SQLAlchemy URL of the database (migrated here)")
    parser.add_argument("--count", type=int, default=100_000, help="onboardings to write")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same rows)")
    args = parser.parse_args()
    started = time.perf_counter()
    written = populate(args.url, args.count, args.seed)
    elapsed = time.perf_counter() - started
    print(
        f"{safe_url(args.url)}: {written['onboardings']} onboardings, "
        f"{written['transitions']} transitions, {written['attempts']} attempts "
        f"in {elapsed:.1f} s"
    )


if __name__ == "__main__":
    main()
