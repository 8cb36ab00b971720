"""The per-(state, code, kind) counts kept by triggers equal a GROUP BY of the rows, whatever
changes them: the engine, an operator, or SQL written straight at the table."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update

from persistence.counts import refill
from persistence.rows import ONBOARDINGS
from tests.conftest import Harness

_CODES = [None, "PREREQUISITES", "COMPLETION_TIMEOUT", "VALIDATION_001", "RESOURCE_014"]
_STATES = ["pending", "incomplete", "brand", "needs_attention", "complete"]


def _grouped(harness: Harness) -> Counter[tuple[str, str, str]]:
    """What the counts must say, computed here from every row."""
    found: Counter[tuple[str, str, str]] = Counter()
    with harness.store.engine.connect() as connection:
        rows = connection.execute(
            select(
                ONBOARDINGS.c.state,
                ONBOARDINGS.c.last_error,
                ONBOARDINGS.c.next_attempt_at,
                ONBOARDINGS.c.finished_at,
            )
        ).all()
    for state, error, due, finished in rows:
        if finished is not None:
            continue
        if due is None:
            found[(state, str((error or {}).get("code") or ""), "paused")] += 1
        else:
            found[(state, "", "runnable")] += 1
    return found


def _counted(harness: Harness) -> Counter[tuple[str, str, str]]:
    with harness.store.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT state, code, kind, count FROM stuck_counts WHERE count <> 0")
        ).all()
    return Counter({(s, c, k): n for s, c, k, n in rows})


def _random_change(chooser: random.Random, now: datetime) -> dict[str, Any]:
    change: dict[str, Any] = {}
    if chooser.random() < 0.5:
        change["state"] = chooser.choice(_STATES)
    if chooser.random() < 0.5:
        change["next_attempt_at"] = chooser.choice([None, now + timedelta(minutes=5)])
    if chooser.random() < 0.5:
        code = chooser.choice(_CODES)
        change["last_error"] = None if code is None else {"code": code, "message": "m"}
    if chooser.random() < 0.2:
        change["finished_at"] = chooser.choice([None, now])
    return change or {"attempts": chooser.randint(0, 5)}


def test_counts_equal_a_group_by_after_random_changes(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Onboardings started and run by the engine, then a few hundred random changes of state,
    schedule, code and finish, several to one row in one transaction, one transaction rolled
    back: the counts always equal a GROUP BY of the rows (on SQLite and PostgreSQL)."""
    for index in range(12):
        spec = json.loads(json.dumps(samples["demo-inherited"]))
        spec["key"] = f"count-{index}"
        harness.start(spec)
    assert _counted(harness) == _grouped(harness)
    harness.run()
    assert _counted(harness) == _grouped(harness)
    chooser = random.Random(15)
    now = datetime.now(UTC)
    with harness.store.engine.connect() as connection:
        ids = [r[0] for r in connection.execute(select(ONBOARDINGS.c.id)).all()]
    for round_ in range(30):
        try:
            with harness.store.engine.begin() as connection:
                for _ in range(chooser.randint(1, 8)):
                    connection.execute(
                        update(ONBOARDINGS)
                        .where(ONBOARDINGS.c.id == chooser.choice(ids))
                        .values(**_random_change(chooser, now))
                    )
                if round_ % 10 == 9:
                    raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        assert _counted(harness) == _grouped(harness), round_
    expected = _grouped(harness)
    with harness.store.engine.begin() as connection:
        refill(connection)
    assert _counted(harness) == expected
