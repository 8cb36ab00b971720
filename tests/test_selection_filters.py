"""The selection's newer filters on both backends: a key prefix taken literally and
case-sensitively (through an index), the newest row's actor, a batch, a creation range, and
pages after a cursor."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

from persistence.store import SqlStore
from tests.conftest import TEST_VAULT
from workflow.core.clock import FakeClock
from workflow.core.spec import parse_spec
from workflow.management.onboardings import Onboardings
from workflow.management.selection import Selector


def _start(store: SqlStore, clock: FakeClock, raw: dict[str, Any], keys: list[str]) -> list[str]:
    ops = Onboardings(store, TEST_VAULT, clock=clock)
    started = []
    for key in keys:
        spec = copy.deepcopy(raw)
        spec["key"] = key
        started.append(ops.start(parse_spec(spec, today=date(2026, 5, 1)), actor="api").id)
        clock.advance(60)
    return started


def _keys(store: SqlStore, selector: Selector) -> list[str]:
    return [row.key for row in store.iter_selected(selector)]


def test_a_key_prefix_is_literal_and_case_sensitive(
    store: SqlStore, clock: FakeClock, samples: dict[str, Any]
) -> None:
    """'_' is no wildcard and case counts: 'a_b' selects a_b-1 only."""
    _start(store, clock, samples["demo-inherited"], ["a_b-1", "axb-2", "A_b-3", "a_-4", "b_a_b"])
    assert _keys(store, Selector(key_prefix="a_b")) == ["a_b-1"]
    assert _keys(store, Selector(key_prefix="a_")) == ["a_b-1", "a_-4"]
    assert _keys(store, Selector(key_prefix="a")) == ["a_b-1", "axb-2", "a_-4"]
    assert store.count_selected(Selector(key_prefix="A")) == 1


def test_actor_batch_and_creation_range_filter_and_pages_follow_the_cursor(
    store: SqlStore, clock: FakeClock, samples: dict[str, Any]
) -> None:
    """The newest row's actor, a batch id, created in [since, until); pages of 2 in order."""
    first_at = clock.now()
    ids = _start(store, clock, samples["demo-inherited"], [f"k-{n}" for n in range(5)])
    ops = Onboardings(store, TEST_VAULT, clock=clock)
    ops.cancel(ids[1], actor="olga", reason="r", batch_id="b" * 32)
    ops.cancel(ids[3], actor="olga", reason="r", batch_id="b" * 32)
    assert _keys(store, Selector(actor="olga")) == ["k-1", "k-3"]
    assert _keys(store, Selector(actor="api")) == ["k-0", "k-2", "k-4"]
    assert _keys(store, Selector(batch_id="b" * 32)) == ["k-1", "k-3"]
    assert _keys(store, Selector(batch_id="c" * 32)) == []
    since, until = first_at + timedelta(seconds=60), first_at + timedelta(seconds=180)
    assert _keys(store, Selector(created_since=since, created_until=until)) == ["k-1", "k-2"]
    everything = Selector(key_prefix="k-")
    page = store.page_selected(everything, limit=2)
    assert [r.key for r in page] == ["k-0", "k-1"]
    page = store.page_selected(everything, after=(page[-1].created_at, page[-1].id), limit=2)
    assert [r.key for r in page] == ["k-2", "k-3"]
    page = store.page_selected(everything, after=(page[-1].created_at, page[-1].id), limit=2)
    assert [r.key for r in page] == ["k-4"]
