"""A large onboarding database for benchmarks: realistic states, valid audit chains, attempts.

python benchmarks/populate.py sqlite:///big.db --count 100000

Migrates the database (it must hold no onboarding yet), then bulk-inserts through SQLAlchemy
Core, in chunks: ``--count`` onboardings spread over the states a busy deployment holds (most
just started or creating their profile, some finished, paused or cancelled), each with the
audit log its state implies, chained exactly as the engine chains it (``workflow.audit``), and
one API attempt per step that ran. 100,000 onboardings give about 193,000 transitions and
81,000 attempts. The same ``--seed`` gives the same database.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from persistence.db import make_engine, safe_url
from persistence.migrate import upgrade
from persistence.rows import ATTEMPTS, ONBOARDINGS, TRANSITIONS
from workflow.audit import GENESIS, row_digest

__all__ = ["MIX", "populate"]

#: (share, final state, the transitions leading there after the start) - about 1.93 rows each.
MIX: tuple[tuple[float, str, tuple[tuple[str, str], ...]], ...] = (
    (0.55, "pending", ()),
    (0.18, "incomplete", (("create_profile", "incomplete"),)),
    (0.04, "brand", (("create_profile", "incomplete"), ("attach_brand", "brand"))),
    (0.02, "campaigns", (("create_profile", "incomplete"), ("attach_brand", "brand"),
                         ("attach_campaigns", "campaigns"))),
    (0.02, "complete", (("create_profile", "incomplete"), ("attach_brand", "brand"),
                        ("attach_campaigns", "campaigns"), ("request_completion", "complete"))),
    (0.05, "completed", (("create_profile", "incomplete"), ("attach_brand", "brand"),
                         ("attach_campaigns", "campaigns"), ("request_completion", "complete"),
                         ("conclude", "completed"))),
    (0.02, "submitted", (("create_profile", "incomplete"), ("attach_brand", "brand"),
                         ("attach_campaigns", "campaigns"), ("request_completion", "complete"),
                         ("conclude", "submitted"))),
    (0.06, "needs_attention", (("create_profile", "incomplete"), ("pause", "needs_attention"))),
    (0.06, "cancelled", (("cancel", "cancelled"),)),
)  # fmt: skip
_CALLS = {
    "create_profile": ("POST", "/v3/profiles"),
    "attach_brand": ("POST", "/v3/profiles/{p}/brands"),
    "attach_campaigns": ("POST", "/v3/profiles/{p}/campaigns"),
    "request_completion": ("POST", "/v3/profiles/{p}/complete"),
    "conclude": ("GET", "/v3/profiles/{p}"),
}
_OPERATOR = frozenset({"cancel"})
_TERMINAL = frozenset({"completed", "submitted", "cancelled"})
_WORKER = "worker:bench-host-1-4f2a"
CHUNK = 5000


def _spec(key: str, n: int) -> dict[str, Any]:
    return {
        "key": key,
        "profile": {
            "name": f"Sender {n}", "short_name": f"Snd{n % 100000}",
            "description": "Order updates and delivery notices", "billing_model": "organization",
        },
    }  # fmt: skip


def _onboarding(rng: random.Random, n: int, start: datetime) -> tuple[dict[str, Any], list, list]:
    """One onboarding's checkpoint row, its transition rows and its attempt rows."""
    _, state, moves = _pick(rng)
    onboarding_id = uuid.UUID(int=rng.getrandbits(128)).hex
    key = f"bench-{n:07d}"
    at = start + timedelta(seconds=n * 0.5)
    profile_id = None
    transitions: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    previous, source = GENESIS, None
    steps = (("start", "pending"), *moves)
    for seq, (trigger, dest) in enumerate(steps, start=1):
        at += timedelta(seconds=rng.uniform(0.2, 3.0))
        actor = "alice" if trigger == "start" or trigger in _OPERATOR else _WORKER
        request_id = details = reason = None
        if trigger == "start":
            details = {"key": key}
        elif trigger in _CALLS:
            if trigger == "create_profile":
                profile_id = f"prf_{rng.getrandbits(64):016x}"
            request_id = f"req_{rng.getrandbits(96):024x}"
            details = {"step": trigger, "profile_id": profile_id}
            method, path = _CALLS[trigger]
            attempts.append({
                "onboarding_id": onboarding_id, "step": trigger, "attempt": 1, "method": method,
                "path": path.format(p=profile_id), "http_status": 200, "request_id": request_id,
                "latency_ms": rng.uniform(40, 400), "outcome": "ok", "generation": 0, "at": at,
                "idempotency_key": f"{onboarding_id}:{trigger}:0",
            })  # fmt: skip
        else:
            reason = {"pause": "a prerequisite is not met: description is missing",
                      "cancel": "duplicate request"}[trigger]  # fmt: skip
        row = {
            "onboarding_id": onboarding_id, "seq": seq, "from_state": source, "to_state": dest,
            "trigger": trigger, "actor": actor, "reason": reason, "at": at,
            "request_id": request_id, "details": details, "profile_id": profile_id,
            "batch_id": None,
        }  # fmt: skip
        row["digest"] = previous = row_digest(
            onboarding_id, seq, trigger, source, dest, actor, at, reason, request_id, details,
            profile_id, None, previous,
        )  # fmt: skip
        transitions.append(row)
        source = dest
    paused = state == "needs_attention"
    checkpoint = {
        "id": onboarding_id, "key": key, "fingerprint": f"{rng.getrandbits(256):064x}",
        "spec": _spec(key, n), "state": state, "paused_from": "incomplete" if paused else None,
        "profile_id": profile_id, "generation": 0, "flow_version": 1, "attempts": 0,
        "next_attempt_at": None if state in _TERMINAL or paused else at,
        "version": len(steps) * 2 - 1, "has_secrets": False,
        "last_error": {"reason": transitions[-1]["reason"], "code": "PREREQUISITE"} if paused
        else None,
        "wake_on_callback": state == "complete", "audit_seq": len(steps), "audit_head": previous,
        "created_by": "alice", "created_at": transitions[0]["at"], "updated_at": at,
        "finished_at": at if state in _TERMINAL else None,
    }  # fmt: skip
    return checkpoint, transitions, attempts


def _pick(rng: random.Random) -> tuple[float, str, tuple[tuple[str, str], ...]]:
    draw = rng.random()
    for entry in MIX:
        draw -= entry[0]
        if draw < 0:
            return entry
    return MIX[0]


def _chunks(count: int, seed: int) -> Iterator[tuple[list, list, list]]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    for first in range(0, count, CHUNK):
        checkpoints, transitions, attempts = [], [], []
        for n in range(first, min(first + CHUNK, count)):
            checkpoint, rows, tries = _onboarding(rng, n, start)
            checkpoints.append(checkpoint)
            transitions += rows
            attempts += tries
        yield checkpoints, transitions, attempts


def populate(url: str, count: int, seed: int = 1) -> dict[str, int]:
    """Fill the (empty) database at ``url``; returns the rows inserted per table.

    Raises:
        SystemExit: the database already holds onboardings.
    """
    engine = make_engine(url)
    upgrade(engine)
    with engine.connect() as connection:
        existing = connection.execute(select(func.count()).select_from(ONBOARDINGS)).scalar_one()
    if existing:
        engine.dispose()
        raise SystemExit(f"{safe_url(url)} already holds {existing} onboardings: use a new one")
    totals = {"onboardings": 0, "transitions": 0, "attempts": 0}
    for checkpoints, transitions, attempts in _chunks(count, seed):
        with engine.begin() as connection:
            connection.execute(insert(ONBOARDINGS), checkpoints)
            connection.execute(insert(TRANSITIONS), transitions)
            if attempts:
                connection.execute(insert(ATTEMPTS), attempts)
        totals["onboardings"] += len(checkpoints)
        totals["transitions"] += len(transitions)
        totals["attempts"] += len(attempts)
    engine.dispose()
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db_url", help="SQLAlchemy URL of an empty (or missing SQLite) database")
    parser.add_argument("--count", type=int, default=100_000, help="onboardings (100000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    args = parser.parse_args()
    started = time.perf_counter()
    totals = populate(args.db_url, args.count, args.seed)
    elapsed = time.perf_counter() - started
    print(
        f"populate: {totals['onboardings']} onboardings, {totals['transitions']} transitions, "
        f"{totals['attempts']} attempts into {safe_url(args.db_url)} in {elapsed:.1f} s",
        file=sys.stdout,
    )


if __name__ == "__main__":
    main()
