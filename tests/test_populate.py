"""The benchmarks' large-database generator writes logs that verify, in the states it claims."""

from __future__ import annotations

import importlib
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from persistence.db import make_engine
from persistence.store import SqlStore
from workflow import verify_audit

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def populate(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """benchmarks/populate.py, imported as the benchmark scripts import it."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("populate")


def test_populated_chains_verify_and_cover_the_mix(populate: ModuleType, tmp_path: Path) -> None:
    """Every generated log verifies; every state of the mix appears; counts are reported."""
    url = f"sqlite:///{tmp_path / 'big.db'}"
    totals = populate.populate(url, 400, seed=3)
    store = SqlStore(make_engine(url))
    report = verify_audit(store)
    states = Counter(row.state for row in store.list_onboardings())
    attempts = sum(len(store.attempts(row.id)) for row in store.list_onboardings())
    store.engine.dispose()
    assert report.problems == []
    assert (report.onboardings, report.transitions) == (400, totals["transitions"])
    assert set(states) == {state for _, state, _ in populate.MIX}
    assert attempts == totals["attempts"] > 0
    assert 1.7 < totals["transitions"] / 400 < 2.2


def test_populating_a_database_that_holds_onboardings_is_refused(
    populate: ModuleType, tmp_path: Path
) -> None:
    """A second run into the same database stops with a message and adds nothing."""
    url = f"sqlite:///{tmp_path / 'big.db'}"
    populate.populate(url, 5)
    with pytest.raises(SystemExit, match="already holds 5 onboardings"):
        populate.populate(url, 5)
