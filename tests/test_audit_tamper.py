"""The audit log rewritten as an attacker would: through the database's own driver, digests and
heads recomputed with ``workflow/core/audit_chain.py``. ``audit verify`` must report every such rewrite."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from persistence.store import SqlStore
from tests.audit_helpers import (
    COLUMNS,
    advance,
    drop_append_only,
    log_of,
    raw,
    raw_log,
    rechain,
    set_head,
    started,
    write_rows,
)
from tests.conftest import Harness
from workflow.cli import app

MADE_UP = "f" * 32


def _cli(store: SqlStore, *args: str) -> Any:
    url = store.engine.url.render_as_string(hide_password=False)
    return CliRunner().invoke(app, ["--db", url, *args])


def _verify(store: SqlStore) -> tuple[int, list[dict[str, Any]]]:
    """Exit code and JSON objects of 'audit verify --json' (problems, then the summary)."""
    result = _cli(store, "audit", "verify", "--json")
    return result.exit_code, [json.loads(line) for line in result.stdout.splitlines()]


def _found(objects: list[dict[str, Any]]) -> list[tuple[str | None, int | None, str]]:
    return [(o["key"], o["seq"], o["check"]) for o in objects if o["kind"] == "audit_problem"]


def test_insert_or_replace_cannot_rewrite_a_row_on_sqlite(sqlite_store: SqlStore) -> None:
    """INSERT OR REPLACE (or an upsert) over an existing audit row is refused by the database:
    REPLACE would delete the row without firing the DELETE trigger and put another there."""
    victim = started(sqlite_store, "victim", steps=2)
    connection = raw(sqlite_store)
    row = raw_log(connection, victim)[1]
    columns, marks = ", ".join(COLUMNS), ", ".join("?" * len(COLUMNS))
    forged = {**row, "actor": "mallory"}
    for statement, values in [
        (f"INSERT OR REPLACE INTO transitions ({columns}) VALUES ({marks})", forged),
        (f"REPLACE INTO transitions ({columns}) VALUES ({marks})", {**forged, "id": 999}),
        (
            f"INSERT INTO transitions ({columns}) VALUES ({marks}) "
            "ON CONFLICT (id) DO UPDATE SET actor = excluded.actor",
            forged,
        ),
    ]:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute(statement, tuple(values[c] for c in COLUMNS))
        connection.rollback()
    connection.close()
    assert [r["actor"] for r in log_of(sqlite_store, victim)] == ["alice", "worker:w1", "worker:w1"]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url_for_test", ["postgres"], indirect=True)
def test_an_upsert_is_an_update_and_refused_on_postgres(store: SqlStore) -> None:
    """PostgreSQL has no REPLACE: INSERT ... ON CONFLICT DO UPDATE updates the existing row and
    fires the update trigger; a plain duplicate is refused by the keys."""
    victim = started(store, "victim", steps=2)
    connection = raw(store)
    row = raw_log(connection, victim)[1]
    columns, marks = ", ".join(COLUMNS), ", ".join(["%s"] * len(COLUMNS))
    values = tuple(json.dumps(row[c]) if c == "details" else row[c] for c in COLUMNS)
    import psycopg

    with pytest.raises(psycopg.errors.RestrictViolation, match="append-only"):
        connection.execute(
            f"INSERT INTO transitions ({columns}) VALUES ({marks}) "
            "ON CONFLICT (id) DO UPDATE SET actor = 'mallory'",
            values,
        )
    connection.rollback()
    with pytest.raises(psycopg.errors.UniqueViolation):
        connection.execute(
            f"INSERT INTO transitions ({columns}) VALUES ({marks})", (999_999, *values[1:])
        )
    connection.rollback()
    connection.close()
    assert log_of(store, victim)[1]["actor"] == "worker:w1"


def test_a_cancel_rewritten_with_recomputed_digests_is_reported_with_its_original(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Rewriting who cancelled and why, with the row's digest and the checkpoint's head
    recomputed, fails the anchor; the outbox event proves what the row said."""
    onboarding = harness.start(samples["demo-inherited"])
    harness.ops.cancel(onboarding, actor="bob", reason="customer asked to stop")
    connection = raw(harness.store)
    rows = raw_log(connection, onboarding)
    assert (rows[-1]["trigger"], rows[-1]["actor"]) == ("cancel", "bob")
    rows[-1].update(actor="alice", reason="duplicate request")
    head = rechain(onboarding, rows)
    write_rows(connection, rows[-1:])
    set_head(connection, onboarding, audit_head=head)
    connection.close()

    code, objects = _verify(harness.store)
    assert code == 1
    assert _found(objects) == [
        ("demo-inherited", None, "anchor"), ("demo-inherited", 2, "anchor"),
    ]  # fmt: skip
    proven = objects[1]
    assert (proven["row"]["actor"], proven["row"]["reason"]) == ("alice", "duplicate request")
    assert proven["original"] == {"actor": "bob", "reason": "customer asked to stop"}
    assert proven["original_source"] == "outbox event"
    assert objects[-1]["database_problems"] == 0  # the triggers were put back as they were
    shown = _cli(harness.store, "audit", "verify").stdout.splitlines()
    assert "    now says:   actor='alice', reason='duplicate request'" in shown
    assert (
        "    originally: actor='bob', reason='customer asked to stop' (from the outbox event)"
        in shown
    )


def test_rows_moved_to_a_made_up_onboarding_are_reported_as_orphans(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """An onboarding's rows moved to an id nobody has, and its checkpoint deleted: the rows,
    and the events and attempts left behind, belong to no onboarding and are reported."""
    kept = harness.start(samples["demo-inherited"])
    harness.run()
    moved = harness.start(samples["demo-no-channels"])
    harness.ops.cancel(moved, actor="bob", reason="not wanted")
    connection = raw(harness.store)
    rows = raw_log(connection, moved)
    for row in rows:
        row["onboarding_id"] = MADE_UP
    rechain(MADE_UP, rows)
    write_rows(connection, rows)
    if isinstance(connection, sqlite3.Connection):
        connection.execute("DELETE FROM onboardings WHERE id = ?", (moved,))
    else:
        connection.execute("SET session_replication_role = replica")
        connection.execute("DELETE FROM onboardings WHERE id = %s", (moved,))
    connection.commit()
    connection.close()

    code, objects = _verify(harness.store)
    assert code == 1
    orphans = {o["onboarding_id"]: o for o in objects if o.get("check") == "orphan"}
    assert set(orphans) == {MADE_UP, moved}
    assert orphans[MADE_UP]["message"].startswith("2 audit row(s) (seq 1-2) belong to")
    assert orphans[moved]["message"].startswith("2 outbox event(s) belong to")
    assert orphans[MADE_UP]["key"] is None
    summary = objects[-1]
    assert (summary["onboardings"], summary["failed_onboardings"]) == (1, 0)
    assert summary["database_problems"] == 2
    assert harness.store.get(kept).state in {"submitted", "completed"}


@pytest.mark.parametrize("how", ["dropped", "altered"])
def test_a_dropped_or_altered_trigger_is_reported_and_db_upgrade_restores_it(
    store: SqlStore, how: str
) -> None:
    """verify names each append-only trigger that is missing, disabled or not as defined;
    'db upgrade' (at the newest revision already) makes it again, once."""
    victim = started(store, "victim", steps=2)
    postgres = store.engine.dialect.name == "postgresql"
    if how == "dropped":
        drop_append_only(store)
        names = (
            ["transitions_append_only", "transitions_no_truncate"]
            if postgres
            else ["transitions_no_update", "transitions_no_delete", "transitions_no_replace"]
        )
    else:
        statements = (
            [
                "ALTER TABLE transitions DISABLE TRIGGER transitions_no_truncate",
                "CREATE OR REPLACE FUNCTION transitions_append_only() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN RETURN COALESCE(NEW, OLD); END $$",
            ]
            if postgres
            else [
                "DROP TRIGGER transitions_no_update",
                "CREATE TRIGGER transitions_no_update BEFORE UPDATE OF digest ON transitions "
                "BEGIN SELECT RAISE(ABORT, 'transitions are append-only'); END",
            ]
        )
        with store.engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
        names = (
            ["transitions_append_only", "transitions_no_truncate"]
            if postgres
            else ["transitions_no_update"]
        )
    code, objects = _verify(store)
    assert code == 1
    assert _found(objects) == [(None, None, "trigger")] * len(names)
    for name, found in zip(names, objects, strict=False):
        assert name in found["message"] or "function transitions_append_only" in found["message"]
    assert objects[-1]["database_problems"] == len(names)
    with store.engine.begin() as connection:  # the hole is real while the guard is gone
        connection.execute(text("UPDATE transitions SET reason = 'edited' WHERE seq = 1"))

    upgraded = _cli(store, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert "restored the audit log's guards: " in upgraded.stdout
    again = _cli(store, "db", "upgrade")
    assert "restored" not in again.stdout
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as connection:
        connection.execute(text("UPDATE transitions SET reason = 'again' WHERE seq = 2"))
    code, objects = _verify(store)
    assert (code, _found(objects)) == (1, [("victim", 1, "digest")])  # the edit made meanwhile
    assert objects[0]["row"]["reason"] == "edited"
    assert log_of(store, victim)[1]["reason"] == "create_profile now"


def test_a_rewrite_under_rows_the_engine_appended_later_still_fails(store: SqlStore) -> None:
    """The engine chains its next row (and anchor) onto a rewritten head without knowing: the
    anchor it writes continues the one it found, so the rewrite stays visible."""
    victim = started(store, "victim", steps=2)
    connection = raw(store)
    rows = raw_log(connection, victim)
    rows[1]["actor"] = "worker:elsewhere"
    head = rechain(victim, rows)
    write_rows(connection, rows[1:])
    set_head(connection, victim, audit_head=head)
    connection.close()
    advance(store, store.get(victim), "pause", "needs_attention")
    code, objects = _verify(store)
    assert code == 1
    assert _found(objects) == [("victim", None, "anchor"), ("victim", 2, "anchor")]
    assert objects[1]["original"] == {"actor": "worker:w1"}


def test_a_log_cut_back_to_an_earlier_head_fails_its_anchor(store: SqlStore) -> None:
    """Removing the newest rows and setting the checkpoint back to the head, state and seq
    they had before leaves a log that chains; its anchor is gone, and the outbox shows what
    was removed."""
    victim = started(store, "victim", steps=3)  # ends paused; remove the pause
    connection = raw(store)
    rows = raw_log(connection, victim)
    placeholders = "?" if isinstance(connection, sqlite3.Connection) else "%s"
    if isinstance(connection, sqlite3.Connection):
        for name in ("transitions_no_delete",):
            connection.execute(f"DROP TRIGGER {name}")
    else:
        connection.execute("SET session_replication_role = replica")
    connection.execute(f"DELETE FROM transitions WHERE id = {placeholders}", (rows[-1]["id"],))
    connection.commit()
    set_head(
        connection, victim, audit_seq=3, audit_head=rows[2]["digest"], state="brand",
        paused_from=None,
    )  # fmt: skip
    connection.close()
    code, objects = _verify(store)
    assert code == 1
    checks = _found(objects)
    assert ("victim", None, "anchor") in checks
    assert ("victim", 4, "anchor") in checks
    removed = next(o for o in objects if o["seq"] == 4)
    assert (removed["row"], removed["original"]["trigger"]) == (None, "pause")


def test_a_digest_failure_shows_the_stored_row_beside_what_it_was(store: SqlStore) -> None:
    """An edited reason (digest left as it was): its outbox event hashes to the stored digest,
    so the fields that differ are shown as stored and as they were."""
    victim = started(store, "victim", steps=2)
    connection = raw(store)
    rows = raw_log(connection, victim)
    rows[2]["reason"] = "nothing to see"
    write_rows(connection, rows[2:])
    connection.close()
    code, objects = _verify(store)
    assert code == 1
    assert _found(objects) == [("victim", 3, "digest")]  # its digest still anchored
    digest = objects[0]
    assert digest["row"]["reason"] == "nothing to see"
    assert digest["row"]["trigger"] == "attach_brand"
    assert digest["original"] == {"reason": "attach_brand now"}
    assert digest["original_source"] == "outbox event"


def test_without_its_event_the_original_comes_from_an_export(
    store: SqlStore, tmp_path: Any
) -> None:
    """With the outbox pruned, the original cannot be recovered (the stored row is shown);
    an export kept from before, given with --against, proves it."""
    victim = started(store, "victim", steps=2)
    exported = _cli(store, "export")
    assert exported.exit_code == 0, exported.output
    kept = tmp_path / "before.jsonl"
    kept.write_text(exported.stdout)
    connection = raw(store)
    rows = raw_log(connection, victim)
    rows[1]["actor"] = "mallory"
    write_rows(connection, rows[1:2])
    connection.execute("DELETE FROM outbox")
    connection.commit()
    connection.close()

    result = _cli(store, "audit", "verify")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("onboarding victim (victim")
    assert lines[0].endswith("seq 2: digest: the stored digest does not match the row's content "
                             "and the previous row's digest: this row was altered")  # fmt: skip
    assert lines[1].startswith("    now says:   trigger='create_profile', ")
    assert "actor='mallory'" in lines[1]
    assert lines[2] == "    the original cannot be recovered: nothing kept elsewhere proves it"

    code, objects = _verify(store)
    assert code == 1
    assert objects[0]["original"] is None
    assert objects[0]["row"]["actor"] == "mallory"
    against = _cli(store, "audit", "verify", "--json", "--against", str(kept))
    found = json.loads(against.stdout.splitlines()[0])
    assert (found["seq"], found["check"]) == (2, "digest")
    assert found["original"] == {"actor": "worker:w1"}
    assert found["original_source"] == "export before.jsonl"


def test_a_row_rewritten_with_its_own_digest_is_found_through_the_next_row(
    store: SqlStore,
) -> None:
    """A row edited and its digest recomputed, the next left alone: the next row still chains
    to the digest of what its outbox event says, which names the row and what it said."""
    victim = started(store, "victim", steps=3)
    connection = raw(store)
    rows = raw_log(connection, victim)
    rows[1]["reason"] = "rewritten"
    stored_after = [dict(row) for row in rows[2:]]
    rechain(victim, rows)
    rows[2:] = stored_after  # later rows keep their stored digests
    write_rows(connection, rows[1:2])
    connection.close()
    code, objects = _verify(store)
    assert code == 1
    found = objects[0]
    assert (found["seq"], found["check"]) == (2, "digest")
    assert found["message"].startswith("this row was altered and its digest recomputed: seq 3")
    assert found["original"] == {"reason": "create_profile now"}
    assert found["row"]["reason"] == "rewritten"
