"""benchmarks/populate.py writes onboardings the engine accepts: consistent checkpoints, valid chains."""

from __future__ import annotations

import importlib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from persistence.db import make_engine
from persistence.store import SqlStore
from workflow.adapters.vault import FernetVault
from workflow.core.audit_chain import GENESIS, digest
from workflow.core.machine import TransitionRecord, replay
from workflow.flows import PATH
from workflow.management.onboardings import Onboardings
from workflow.management.selection import Selector

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def populate(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The populate script, imported as the benchmarks import it."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("populate")


@pytest.fixture
def populated(populate: ModuleType, tmp_path: Path) -> SqlStore:
    """300 onboardings in a migrated SQLite file."""
    url = f"sqlite:///{tmp_path / 'load.db'}"
    written = populate.populate(url, 300, seed=7, now=NOW)
    assert written["onboardings"] == 300
    assert written["transitions"] == 3 * sum(s.share * _moves(s) for s in populate.SCENARIOS)
    return SqlStore(make_engine(url))


def _moves(scenario: Any) -> int:
    """Transitions of a scenario: start, one per path step reached, and how it ended."""
    return 1 + PATH.index(scenario.reached) + (scenario.end is not None)


def test_states_follow_the_shares_and_every_chain_verifies(
    populate: ModuleType, populated: SqlStore
) -> None:
    """Each scenario's share per hundred; audit chains, heads and replayed states agree."""
    rows = populated.list_onboardings()
    states = Counter((r.state, r.paused_from, (r.last_error or {}).get("code")) for r in rows)
    assert states[("needs_attention", "complete", "COMPLETION_TIMEOUT")] == 30
    assert states[("pending", None, None)] == 3 * 58
    for row in rows:
        history = populated.history(row.id)
        previous = GENESIS
        for entry in history:
            assert entry.digest == digest(row.id, entry, previous)
            previous = entry.digest
        assert (row.audit_seq, row.audit_head) == (len(history), previous)
        records = [
            TransitionRecord(e.trigger, e.from_state or "", e.to_state, e.seq) for e in history[1:]
        ]
        assert replay(records) == row.state
        assert row.updated_at == history[-1].at
        assert row.updated_at <= NOW


def _vault(store: SqlStore) -> FernetVault:
    """The key populate anchored with: the key file it made beside the SQLite file."""
    path = Path(f"{store.engine.url.database}.key")
    return FernetVault.from_key_file(path, create=False)[0]


def test_populated_onboardings_take_a_bulk_resume(populated: SqlStore) -> None:
    """The 30 completion timeouts are selected and resumed, each audited in one batch."""
    ops = Onboardings(populated, _vault(populated))
    selector = Selector(codes=frozenset({"COMPLETION_TIMEOUT"}))
    report = ops.bulk("resume", selector, actor="ops", reason="late")
    assert (len(report.applied), report.skipped) == (30, ())
    for onboarding in report.applied:
        assert populated.get(onboarding).state == "complete"
        assert populated.history(onboarding)[-1].batch_id == report.batch_id


def test_a_database_with_onboardings_is_refused(populate: ModuleType, populated: SqlStore) -> None:
    """Populating twice stops with a message instead of clashing on keys."""
    with pytest.raises(SystemExit, match="already holds 300 onboardings"):
        populate.populate(str(populated.engine.url), 10)


def test_the_audit_verifier_accepts_every_populated_log(populated: SqlStore) -> None:
    """'audit verify' over a populated database finds nothing wrong (chains, anchors and
    replays)."""
    from workflow import verify_audit

    report = verify_audit(populated, anchoring=_vault(populated))
    assert report.anchors_checked
    assert report.problems == []
    assert report.onboardings == 300
