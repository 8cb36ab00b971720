"""``verify_audit`` and ``onboarding audit verify``: intact logs pass, tampering is named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, update
from typer.testing import CliRunner

import persistence.audit
from persistence.rows import ONBOARDINGS, TRANSITIONS
from persistence.store import SqlStore
from tests.audit_helpers import NOW, advance, log_of, started, tamper
from tests.conftest import Harness
from workflow import verify_audit
from workflow.cli import app
from workflow.core.audit_chain import row_digest
from workflow.core.errors import OnboardingNotFoundError
from workflow.core.spec import parse_spec
from workflow.management.audit_verify import AuditProblem
from workflow.ports import Change, CheckpointUpdate

SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "schema"


def _verify(store: SqlStore, *args: str) -> Any:
    url = store.engine.url.render_as_string(hide_password=False)
    return CliRunner().invoke(app, ["--db", url, "audit", "verify", *args])


def _problems(store: SqlStore, key: str | None = None) -> list[tuple[str, int | None, str]]:
    report = verify_audit(store, key)
    return [(p.key, p.seq, p.check) for p in report.problems]


def test_logs_written_by_the_engine_and_operators_verify(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Real runs, pauses, rewinds, reflexive retries and amends, and a cancel all verify."""
    paused = harness.start(samples["demo-prerequisite-pause"])
    done = harness.start(samples["demo-own-brand-tcr"])
    amended = harness.start(samples["demo-inherited"])
    spec = parse_spec(samples["demo-inherited"], today=harness.clock.now().date())
    harness.ops.amend(amended, spec, actor="alice", reason="same spec again")  # pending -> pending
    harness.ops.retry(amended, actor="alice", reason="now")  # pending -> pending
    harness.run()
    harness.ops.rewind(paused, "brand", actor="alice", reason="re-check campaigns")
    harness.run()
    harness.ops.amend(paused, parse_spec(samples["demo-prerequisite-pause"], today=harness.clock.now().date()), actor="bob", reason="same")  # fmt: skip
    harness.ops.cancel(paused, actor="bob", reason="duplicate request")
    report = verify_audit(harness.store)
    assert report.problems == []
    assert report.ok
    assert report.onboardings == 3
    assert report.transitions == sum(len(harness.store.history(i)) for i in (paused, done, amended))
    assert harness.store.get(done).state in {"submitted", "completed"}
    result = _verify(harness.store)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("audit verify: ok: 3 onboardings, ")
    assert "transitions/s" in result.stdout


def test_an_altered_row_is_named_by_onboarding_and_seq(store: SqlStore) -> None:
    """With the triggers dropped, an edited actor or reason is reported at that row only."""
    started(store, "clean", steps=5)
    victim = started(store, "victim", steps=5)
    tamper(
        store,
        "UPDATE transitions SET actor = 'mallory' WHERE onboarding_id = :id AND seq = 3",
        id=victim,
    )
    assert _problems(store) == [("victim", 3, "digest")]
    tamper(
        store,
        "UPDATE transitions SET reason = 'nothing happened' WHERE onboarding_id = :id AND seq = 5",
        id=victim,
    )
    assert _problems(store) == [("victim", 3, "digest"), ("victim", 5, "digest")]
    result = _verify(store)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"onboarding victim ({victim}): seq 3: digest: ")
    # Each altered row as it reads now, and as its outbox event (same transaction) says it was.
    assert lines[1:3] == [
        "    now says:   actor='mallory'",
        "    originally: actor='worker:w1' (from the outbox event)",
    ]
    assert lines[3].startswith(f"onboarding victim ({victim}): seq 5: digest: ")
    assert lines[4:6] == [
        "    now says:   reason='nothing happened'",
        "    originally: reason='retry now' (from the outbox event)",
    ]
    assert lines[-1].startswith("audit verify: FAILED for 1 of 2: 2 onboardings, 12 transitions")


def test_a_deleted_row_is_reported_as_a_gap(store: SqlStore) -> None:
    """A row removed from the middle of a log is named as the missing seq."""
    victim = started(store, "victim", steps=4)
    tamper(store, "DELETE FROM transitions WHERE onboarding_id = :id AND seq = 3", id=victim)
    report = verify_audit(store)
    assert [(p.seq, p.check) for p in report.problems] == [(4, "chain"), (4, "replay")]
    assert "seq 3 missing" in report.problems[0].message
    assert (
        "'pause' starts from 'brand' but the log was in 'incomplete'" in report.problems[1].message
    )
    assert (report.failed, report.transitions) == (1, 4)


def test_rows_deleted_from_the_end_disagree_with_the_checkpoint(store: SqlStore) -> None:
    """Removing the newest rows leaves the chain whole, but not the checkpoint's head."""
    victim = started(store, "victim", steps=3)
    tamper(store, "DELETE FROM transitions WHERE onboarding_id = :id AND seq = 4", id=victim)
    report = verify_audit(store)
    assert [(p.seq, p.check) for p in report.problems] == [(3, "checkpoint"), (3, "replay")]
    assert "audit_seq is 4 but the log ends at seq 3" in report.problems[0].message


def test_a_checkpoint_state_the_log_does_not_lead_to_is_reported(store: SqlStore) -> None:
    """A state written without its transition fails the replay, naming both states."""
    started(store, "clean", steps=2)
    victim = started(store, "victim", steps=2)
    row = store.get(victim)
    store.apply(Change(victim, row.version, NOW, CheckpointUpdate(state="campaigns")))
    report = verify_audit(store)
    assert [(p.key, p.seq, p.check) for p in report.problems] == [("victim", 3, "replay")]
    assert "ends in 'brand' but the checkpoint is in 'campaigns'" in report.problems[0].message


def test_a_paused_from_the_log_does_not_show_is_reported(store: SqlStore) -> None:
    """A paused checkpoint must say the state the log paused from."""
    victim = started(store, "victim", steps=3)
    row = store.get(victim)
    store.apply(Change(victim, row.version, NOW, CheckpointUpdate(paused_from="pending")))
    report = verify_audit(store)
    assert [(p.seq, p.check) for p in report.problems] == [(4, "replay")]
    assert "paused_from is 'pending' but the log says 'brand'" in report.problems[0].message


def test_a_rechained_forgery_fails_the_transition_table(store: SqlStore) -> None:
    """A row forged with a valid digest and a matching checkpoint must still be a move of
    the flow's table."""
    victim = started(store, "victim", steps=1)
    row = store.get(victim)
    forged = row_digest(
        victim, 3, "conclude", "incomplete", "completed", "mallory", NOW, None, None, None,
        None, None, row.audit_head,
    )  # fmt: skip
    values = {
        "onboarding_id": victim, "seq": 3, "from_state": "incomplete", "to_state": "completed",
        "trigger": "conclude", "actor": "mallory", "at": NOW, "digest": forged,
    }  # fmt: skip
    tamper(store, insert(TRANSITIONS).values(values))
    tamper(
        store,
        update(ONBOARDINGS).where(ONBOARDINGS.c.id == victim)
        .values(audit_seq=3, audit_head=forged, state="completed"),
    )  # fmt: skip
    report = verify_audit(store)
    assert [(p.seq, p.check) for p in report.problems] == [(3, "transition")]
    assert (
        "'conclude' from 'incomplete' to 'completed' is not a transition"
        in report.problems[0].message
    )


def test_one_onboarding_by_key_or_id(store: SqlStore) -> None:
    """--key checks that onboarding alone; an unknown key is one line and exit 1."""
    started(store, "clean", steps=2)
    victim = started(store, "victim", steps=2)
    tamper(
        store,
        "UPDATE transitions SET actor = 'mallory' WHERE onboarding_id = :id AND seq = 2",
        id=victim,
    )
    assert verify_audit(store, "clean").ok
    assert verify_audit(store, "clean").onboardings == 1
    assert _problems(store, victim) == [("victim", 2, "digest")]
    assert _verify(store, "--key", "clean").exit_code == 0
    with pytest.raises(OnboardingNotFoundError):
        verify_audit(store, "nobody")
    result = _verify(store, "--key", "nobody")
    assert result.exit_code == 1
    assert "no onboarding with id or key 'nobody'" in result.output


def test_json_lines_name_each_problem_then_the_summary(store: SqlStore) -> None:
    """--json prints one object per problem and a summary, each with schema_version 1."""
    victim = started(store, "victim", steps=2)
    tamper(store, "DELETE FROM transitions WHERE onboarding_id = :id AND seq = 2", id=victim)
    result = _verify(store, "--json")
    assert result.exit_code == 1
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert {o["schema_version"] for o in objects} == {1}
    assert [o["kind"] for o in objects] == [*["audit_problem"] * 4, "audit_summary"]
    assert (objects[0]["key"], objects[0]["seq"], objects[0]["check"]) == ("victim", 3, "chain")
    # The anchor fails too, and the deleted row's outbox event, put back, proves what it said.
    assert [(o["seq"], o["check"]) for o in objects[1:3]] == [(None, "anchor"), (2, "anchor")]
    assert (objects[2]["row"], objects[2]["original_source"]) == (None, "outbox event")
    assert objects[2]["original"]["trigger"] == "create_profile"
    summary = objects[-1]
    assert summary["ok"] is False
    assert (summary["onboardings"], summary["transitions"], summary["failed_onboardings"]) == (
        1,
        2,
        1,
    )
    assert summary["checked_at"].endswith("+00:00")
    assert "digest" not in objects[0]
    for found in objects:
        schema = json.loads((SCHEMAS / f"{found['kind']}.json").read_text())
        assert set(found) == set(schema["required"]) == set(schema["properties"])
    checks = json.loads((SCHEMAS / "audit_problem.json").read_text())["properties"]["check"]["enum"]
    assert {o["check"] for o in objects[:-1]} <= set(checks)


def test_logs_are_grouped_across_fetched_chunks(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streamed in chunks smaller than a log, each onboarding still gets exactly its rows."""
    monkeypatch.setattr(persistence.audit, "CHUNK", 4)
    ids = [started(store, f"k{n}", steps=n % 6) for n in range(12)]
    logs = {head.id: [row.seq for row in rows] for head, rows in store.audit_logs()}
    assert logs == {i: [r["seq"] for r in log_of(store, i)] for i in ids}
    assert list(logs) == sorted(ids)
    report = verify_audit(store)
    assert (report.ok, report.onboardings, report.transitions) == (
        True,
        12,
        12 + 2 * (1 + 2 + 3 + 4 + 5),
    )


def test_problems_go_to_the_callback_as_found(store: SqlStore) -> None:
    """With a callback, each problem is handed over as found and not kept in the report."""
    victim = started(store, "victim", steps=2)
    tamper(store, "UPDATE transitions SET actor = 'x' WHERE onboarding_id = :id", id=victim)
    seen: list[AuditProblem] = []
    report = verify_audit(store, on_problem=seen.append)
    assert [(p.seq, p.check) for p in seen] == [(1, "digest"), (2, "digest"), (3, "digest")]
    assert (report.problems, report.problem_count, report.failed) == ([], 3, 1)


def test_a_row_appended_by_the_engine_after_a_tamper_does_not_hide_it(store: SqlStore) -> None:
    """Rows chained after an altered one verify; the altered one stays named."""
    victim = started(store, "victim", steps=1)
    tamper(
        store,
        "UPDATE transitions SET reason = 'edited' WHERE onboarding_id = :id AND seq = 2",
        id=victim,
    )
    advance(store, store.get(victim), "attach_brand", "brand")
    assert _problems(store) == [("victim", 2, "digest")]


def test_an_emptied_log_a_cut_start_and_a_rewritten_head_are_reported(store: SqlStore) -> None:
    """A log with no rows, one without its start row, and a checkpoint head edited are named."""
    emptied = started(store, "emptied", steps=1)
    cut = started(store, "cut", steps=1)
    headless = started(store, "headless", steps=1)
    tamper(store, "DELETE FROM transitions WHERE onboarding_id = :id", id=emptied)
    tamper(store, "DELETE FROM transitions WHERE onboarding_id = :id AND seq = 1", id=cut)
    tamper(
        store, update(ONBOARDINGS).where(ONBOARDINGS.c.id == headless).values(audit_head="0" * 64)
    )
    report = verify_audit(store)
    found = {(p.key, p.seq, p.check): p.message for p in report.problems}
    assert sorted(found) == [
        ("cut", 2, "chain"), ("cut", 2, "replay"), ("emptied", None, "chain"),
        ("headless", 2, "checkpoint"),
    ]  # fmt: skip
    assert found[("emptied", None, "chain")] == "the log is empty; the checkpoint counts 2 rows"
    assert found[("cut", 2, "replay")] == "the log begins with 'create_profile', not 'start'"
    assert (report.onboardings, report.failed, report.transitions) == (3, 3, 3)
