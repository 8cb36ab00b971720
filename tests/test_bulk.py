"""Bulk operator actions through the library: selection, dry run, batch audit, skips, filters."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import Fleet, Harness, with_key
from workflow.audit import GENESIS, digest
from workflow.bulk import BulkReport, run_bulk
from workflow.errors import SelectionError, TransitionError
from workflow.selection import Selector, build_selector, parse_duration
from workflow.spec import parse_spec

TIMEOUT = frozenset({"COMPLETION_TIMEOUT"})


def _snapshot(harness: Harness, ids: list[str]) -> dict[str, tuple[int, int]]:
    return {i: (harness.store.get(i).version, len(harness.store.history(i))) for i in ids}


def _chain_holds(harness: Harness, onboarding: str) -> None:
    previous = GENESIS
    for entry in harness.store.history(onboarding):
        assert entry.digest == digest(onboarding, entry, previous)
        previous = entry.digest
    assert harness.store.get(onboarding).audit_head == previous


def test_dry_run_lists_exactly_the_matches_and_changes_nothing(
    harness: Harness, fleet: Fleet
) -> None:
    """A dry run reports every COMPLETION_TIMEOUT onboarding and no other; versions and histories stay."""
    before = _snapshot(harness, fleet.all)
    report = harness.ops.bulk(
        "resume", Selector(codes=TIMEOUT), actor="ops", reason="Sent finished late", dry_run=True
    )
    assert report.dry_run
    assert report.selected == 3
    assert sorted(r.id for r in report.preview) == sorted(fleet.timeouts)
    assert {(r.state, r.paused_from, r.code) for r in report.preview} == {
        ("needs_attention", "complete", "COMPLETION_TIMEOUT")
    }
    assert (report.applied, report.skipped) == ((), ())
    assert _snapshot(harness, fleet.all) == before


def test_bulk_resume_audits_each_onboarding_with_one_batch_id(
    harness: Harness, fleet: Fleet
) -> None:
    """Every match is resumed with its own audit row, all carrying one uuid4-hex batch id."""
    untouched = _snapshot(harness, [fleet.prerequisites, fleet.fresh])
    report = harness.ops.bulk(
        "resume", Selector(codes=TIMEOUT), actor="ops", reason="Sent finished late"
    )
    assert len(report.batch_id) == 32
    int(report.batch_id, 16)
    assert sorted(report.applied) == sorted(fleet.timeouts)
    assert report.skipped == ()
    for onboarding in fleet.timeouts:
        last = harness.store.history(onboarding)[-1]
        assert (last.trigger, last.actor, last.reason) == ("resume", "ops", "Sent finished late")
        assert last.batch_id == report.batch_id
        assert harness.store.get(onboarding).state == "complete"
        _chain_holds(harness, onboarding)
    assert _snapshot(harness, [fleet.prerequisites, fleet.fresh]) == untouched
    harness.sandbox.completer.flush()
    harness.run()
    assert {harness.store.get(o).state for o in fleet.timeouts} == {"completed"}


def test_changed_after_the_selection_is_skipped_with_the_reason(
    harness: Harness, fleet: Fleet, samples: dict[str, Any]
) -> None:
    """Cancelled or touched after the selection: skipped and named; a matching one is still resumed."""
    harness.clock.advance(120)
    selector = Selector(codes=TIMEOUT, updated_before=harness.clock.now() - timedelta(seconds=60))
    cancelled, touched, kept = fleet.timeouts
    amended = parse_spec(
        with_key(samples["demo-inherited"], "late-1"), today=harness.clock.now().date()
    )

    def meanwhile(report: BulkReport) -> bool:
        assert report.selected == 3
        harness.ops.cancel(cancelled, actor="bob", reason="customer left")
        harness.ops.amend(touched, amended, actor="bob", reason="same spec, checked")
        return True

    report = harness.ops.bulk(
        "resume", selector, actor="ops", reason="Sent finished late", confirm=meanwhile
    )
    assert report.applied == (kept,)
    reasons = {s.id: s.reason for s in report.skipped}
    assert set(reasons) == {cancelled, touched}
    assert "'onboarding resume' does not apply" in reasons[cancelled]
    assert "it is cancelled" in reasons[cancelled]
    assert "no longer matches the selection" in reasons[touched]
    assert "now needs_attention (paused in complete)" in reasons[touched]
    assert {s.key for s in report.skipped} == {"late-0", "late-1"}
    assert harness.store.history(cancelled)[-1].batch_id is None
    assert harness.store.get(touched).state == "needs_attention"
    assert harness.store.history(kept)[-1].batch_id == report.batch_id


def test_a_changed_onboarding_that_still_matches_is_acted_on(
    harness: Harness, fleet: Fleet, samples: dict[str, Any]
) -> None:
    """A version moved by an amend that leaves it matching does not skip it: it is resumed."""
    touched = fleet.timeouts[0]
    amended = parse_spec(
        with_key(samples["demo-inherited"], "late-0"), today=harness.clock.now().date()
    )

    def meanwhile(report: BulkReport) -> bool:
        harness.ops.amend(touched, amended, actor="bob", reason="checked")
        return True

    report = harness.ops.bulk(
        "resume", Selector(codes=TIMEOUT), actor="ops", reason="late", confirm=meanwhile
    )
    assert report.skipped == ()
    assert sorted(report.applied) == sorted(fleet.timeouts)
    assert [h.trigger for h in harness.store.history(touched)][-2:] == ["amend", "resume"]


def test_declining_the_confirmation_changes_nothing(harness: Harness, fleet: Fleet) -> None:
    """A confirm callback answering no stops before any change."""
    before = _snapshot(harness, fleet.all)
    report = harness.ops.bulk(
        "cancel", Selector(states=frozenset({"needs_attention"})), actor="ops", reason="cleanup",
        confirm=lambda report: False,
    )  # fmt: skip
    assert (report.confirmed, report.selected, report.applied) == (False, 4, ())
    assert _snapshot(harness, fleet.all) == before


def test_selection_keeps_only_onboardings_the_action_applies_to(
    harness: Harness, fleet: Fleet
) -> None:
    """Rewind targets, resume and cancel select only states the machine lets them act on."""
    paused = Selector(states=frozenset({"needs_attention"}))

    def chosen(action: str, selector: Selector, **options: Any) -> set[str]:
        report = harness.ops.bulk(
            action, selector, actor="ops", reason="look", dry_run=True, **options
        )
        return {r.id for r in report.preview}

    assert chosen("rewind", paused, target="brand") == {*fleet.timeouts, fleet.prerequisites}
    assert chosen("rewind", paused, target="complete") == set(fleet.timeouts)
    assert chosen("resume", Selector(key_prefix="fresh-")) == set()
    assert chosen("retry", Selector(key_prefix="fresh-")) == {fleet.fresh}
    harness.ops.cancel(fleet.fresh, actor="ops", reason="gone")
    assert chosen("cancel", Selector(key_prefix="fresh-")) == set()


def test_bulk_rewind_and_cancel_fire_with_their_options(harness: Harness, fleet: Fleet) -> None:
    """Rewind to a state starts a new generation; cancel --delete-at-sent goes to cancelling."""
    rewound = harness.ops.bulk(
        "rewind", Selector(codes=TIMEOUT), actor="ops", reason="re-check", target="campaigns"
    )
    assert sorted(rewound.applied) == sorted(fleet.timeouts)
    for onboarding in fleet.timeouts:
        row = harness.store.get(onboarding)
        assert (row.state, row.generation) == ("campaigns", 1)
        assert harness.store.history(onboarding)[-1].details == {
            "target": "campaigns", "delete_at_sent": False,
        }  # fmt: skip
    cancelled = harness.ops.bulk(
        "cancel", Selector(paused_from=frozenset({"campaigns"})), actor="ops", reason="stop",
        delete_at_sent=True,
    )  # fmt: skip
    assert cancelled.applied == (fleet.prerequisites,)
    assert harness.store.get(fleet.prerequisites).state == "cancelling"
    assert harness.store.history(fleet.prerequisites)[-1].batch_id == cancelled.batch_id


def test_filters_by_key_prefix_paused_from_age_and_worker(harness: Harness, fleet: Fleet) -> None:
    """key prefix (literal, case-sensitive), paused_from, not-updated-since and worker all filter in SQL."""

    def ids(selector: Selector) -> set[str]:
        return {s.id for s in harness.store.iter_selected(selector)}

    assert ids(Selector(key_prefix="late-")) == set(fleet.timeouts)
    assert ids(Selector(key_prefix="LATE-")) == set()
    assert ids(Selector(key_prefix="late_")) == set()  # '_' is no wildcard
    assert ids(Selector(paused_from=frozenset({"campaigns"}))) == {fleet.prerequisites}
    # --worker is the leases a worker holds now: the one that paused these holds none of them.
    assert ids(Selector(worker=harness.worker.owner)) == set()
    harness.ops.retry(fleet.timeouts[0], actor="ops", reason="runnable again")
    (claimed,) = harness.store.claim("other-worker", harness.clock.now(), 60, limit=1)
    assert ids(Selector(worker="other-worker")) == {claimed.checkpoint.id}
    assert ids(Selector(worker="other-worker", key_prefix="late-")) == (
        {claimed.checkpoint.id} & set(fleet.timeouts)
    )
    assert ids(Selector(codes=TIMEOUT, key_prefix="late-")) == set(fleet.timeouts[1:])
    earlier = harness.clock.now()
    harness.clock.advance(30)
    harness.ops.cancel(fleet.prerequisites, actor="ops", reason="moves it on")
    assert ids(Selector(updated_before=earlier + timedelta(seconds=10))) == {
        *fleet.timeouts, fleet.fresh,
    }  # fmt: skip


def test_selection_reads_every_match_once_across_pages(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Onboardings created at the same instant come out once each, oldest first, in small pages."""
    ids = [harness.start(with_key(samples["demo-inherited"], f"same-{n}")) for n in range(7)]
    rows = list(harness.store.iter_selected(Selector(key_prefix="same-"), page_size=2))
    assert sorted(r.id for r in rows) == sorted(ids)
    assert [(r.created_at, r.id) for r in rows] == sorted((r.created_at, r.id) for r in rows)
    assert harness.store.count_selected(Selector(key_prefix="same-")) == 7


def test_bad_selections_are_refused_naming_the_rule(harness: Harness) -> None:
    """No filter, unknown states, unknown actions, bad rewind targets and blank reasons raise."""
    ops = harness.ops
    cases: list[tuple[str, Selector, dict[str, Any], type[Exception], str]] = [
        ("resume", Selector(), {}, SelectionError, "at least one filter"),
        ("resume", Selector(states=frozenset({"paused"})), {}, SelectionError, "needs_attention"),
        ("amend", Selector(key_prefix="x"), {}, SelectionError, "resume, retry, rewind, cancel"),
        ("rewind", Selector(key_prefix="x"), {"target": "nowhere"}, TransitionError, "pending"),
        ("resume", Selector(key_prefix="x"), {"reason": " "}, TransitionError, "needs a reason"),
    ]
    for action, selector, options, error, words in cases:
        arguments = {"actor": "ops", "reason": "r", **options}
        with pytest.raises(error, match=words):
            run_bulk(ops, action, selector, **arguments)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"where": ["colour=red"]}, "'colour' is not a filter key"),
        ({"where": ["state"]}, "is not key=value"),
        ({"where": ["state=paused"]}, "unknown state; state is one of pending"),
        ({"where": ["paused_from=completed"]}, "paused_from is one of"),
        ({"codes": [" "]}, "--code is empty"),
        ({"codes": ["NO_SUCH_CODE"]}, "'NO_SUCH_CODE' is not a pause code; codes are COMMIT_"),
        ({"older_than": "2x"}, "s, m, h or d"),
        ({"older_than": "0h"}, "positive number"),
        ({"key_prefix": ""}, "--key-prefix is empty"),
    ],
)
def test_operator_filters_are_checked(options: dict[str, Any], words: str) -> None:
    """Each malformed filter raises SelectionError naming the option and the rule."""
    from workflow.flow import ACTIVE_STATES, STATES

    with pytest.raises(SelectionError, match=words):
        build_selector(states=STATES, paused_states=sorted(ACTIVE_STATES), now=_now(), **options)


def test_filters_build_a_selector() -> None:
    """Repeated --where values are alternatives; --older-than counts back from now; a code is
    read in any case."""
    from workflow.flow import ACTIVE_STATES, STATES

    now = _now()
    selector = build_selector(
        states=STATES, paused_states=sorted(ACTIVE_STATES), now=now,
        where=["state=needs_attention", "paused_from=complete", "paused_from=campaigns"],
        codes=["completion_timeout"], older_than="90m", key_prefix="acme-", worker="w1",
    )  # fmt: skip
    assert selector == Selector(
        states=frozenset({"needs_attention"}), paused_from=frozenset({"complete", "campaigns"}),
        codes=TIMEOUT, updated_before=now - timedelta(minutes=90), key_prefix="acme-",
        worker="w1",
    )  # fmt: skip
    assert [parse_duration(t) for t in ("45s", "1.5h", "2d")] == [
        timedelta(seconds=45), timedelta(minutes=90), timedelta(days=2),
    ]  # fmt: skip


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_a_racing_worker_never_loses_or_doubles_a_bulk_action(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """While a worker moves the same onboardings on, each selected one is retried once or skipped with a reason."""
    ids = [harness.start(with_key(samples["demo-inherited"], f"race-{n:02d}")) for n in range(24)]
    worker = threading.Thread(target=harness.run)

    def start_the_worker(report: BulkReport) -> bool:
        worker.start()
        return True

    report = harness.ops.bulk(
        "retry", Selector(key_prefix="race-"), actor="ops", reason="now", page_size=4,
        confirm=start_the_worker,
    )  # fmt: skip
    worker.join(timeout=120)
    assert not worker.is_alive()
    assert report.selected == 24
    assert sorted([*report.applied, *(s.id for s in report.skipped)]) == sorted(ids)
    assert all(s.reason for s in report.skipped)
    for onboarding in ids:
        batch = [h for h in harness.store.history(onboarding) if h.batch_id == report.batch_id]
        assert len(batch) == (1 if onboarding in report.applied else 0)
        _chain_holds(harness, onboarding)
    harness.run()
    assert {harness.store.get(o).state for o in ids} == {"completed"}


def test_a_rewind_that_no_longer_goes_back_is_skipped_with_the_guard_reason(
    harness: Harness, fleet: Fleet
) -> None:
    """Rewound further back meanwhile, it is skipped: --to brand would no longer be earlier."""
    moved = fleet.timeouts[0]

    def meanwhile(report: BulkReport) -> bool:
        harness.ops.rewind(moved, "incomplete", actor="bob", reason="brand data changed")
        return True

    report = harness.ops.bulk(
        "rewind", Selector(codes=TIMEOUT), actor="ops", reason="re-check", target="brand",
        confirm=meanwhile,
    )  # fmt: skip
    assert sorted(report.applied) == sorted(fleet.timeouts[1:])
    (skipped,) = report.skipped
    assert skipped.id == moved
    assert skipped.reason == (
        "'onboarding rewind' no longer applies to onboarding 'late-0': cannot rewind from "
        "'incomplete' to 'brand': the target must be an earlier state of the path"
    )
    assert harness.store.get(moved).state == "incomplete"
