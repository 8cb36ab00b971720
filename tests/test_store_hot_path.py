"""The store's two commit paths: the whole-checkpoint commit prepared on the DB-API cursor
(persistence/prepared.py) and every other change through SQLAlchemy Core
(persistence/commits.py). Both store exactly the same bytes and return what they were given;
the claim, the apply and the secret read fail as StoreError with one CLI line and write nothing
when they fail. The read path's decoders come from the table metadata.

Real SQLite files and the real PostgreSQL (ONBOARDING_TEST_POSTGRES_URL); no mocks.
"""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from persistence.db import make_engine
from persistence.store import SqlStore
from tests.conftest import TEST_VAULT, _fresh_sqlite, _reset_postgres, postgres_or_skip
from workflow.cli.failures import explain
from workflow.core.audit_chain import chained
from workflow.core.errors import ConcurrencyError, StoreError
from workflow.ports import (
    AttemptRecord,
    AuditEntry,
    Change,
    Checkpoint,
    CheckpointUpdate,
    NewOnboarding,
    StepRecord,
)

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
T = datetime(2026, 5, 1, 9, 0, 0, 123456, tzinfo=UTC)


def _new(key: str) -> NewOnboarding:
    checkpoint = Checkpoint(
        id=key.ljust(32, "0")[:32], key=key, fingerprint="f" * 64, spec={"key": key},
        state="pending", version=0, next_attempt_at=NOW, created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    entry = chained(checkpoint, AuditEntry("start", None, "pending", "test", NOW), TEST_VAULT)
    checkpoint = dataclasses.replace(
        checkpoint, audit_seq=entry.seq, audit_head=entry.digest, audit_anchor=entry.anchor
    )
    return NewOnboarding(checkpoint, entry, b"sealed")


def _claimed(store: SqlStore, key: str = "k1") -> Checkpoint:
    ((row, _),) = store.insert_many([_new(key)])
    claims = {c.checkpoint.id: c.checkpoint for c in store.claim("w1", NOW, 30, 100)}
    return claims[row.id]


def _rich_change(base: Checkpoint, *, fast: bool, trigger: str = "step", **update: Any) -> Change:
    """A change touching every kind of value: times with microseconds, unicode and nested JSON,
    JSON nulls inside values, booleans, bytes."""
    entry = chained(
        base,
        AuditEntry(
            trigger, base.state, "incomplete", "wörker ✓", T, reason="naïve – ✓",
            request_id="r", details={"x": None, "ü": ["✓", {"n": None}]}, profile_id="p",
            batch_id="b",
        ),
        TEST_VAULT,
    )  # fmt: skip
    record = StepRecord(
        "s", "ï", base.generation, done=True, output={"ü": ["✓", {"n": None, "f": 1.5}]},
        key_seq=2, uncertain=True, may_exist=True, first_sent_at=T,
    )  # fmt: skip
    attempt = AttemptRecord(
        "s", 1, "POST", "/x", T, 12.25, "ok", "key", 201, None, "req", "mé", "ï", 0, "res"
    )
    fields: dict[str, Any] = {
        "state": "incomplete", "next_attempt_at": T + timedelta(minutes=1), "step_started_at": T,
        "last_error": {"code": "X", "msg": "ünï ✓", "nested": {"a": [1, None, {"b": False}]}},
        "completion_deadline": T, "wake_on_callback": True, "predicted_rule": 3,
    }  # fmt: skip
    fields.update(update)
    return Change(
        base.id, base.version, T, CheckpointUpdate(**fields), entry, records=[record],
        attempts=[attempt], secret=b"\x00\xffnew", base=base if fast else None,
    )  # fmt: skip


def _raw_rows(store: SqlStore) -> dict[str, list[dict[str, Any]]]:
    tables = ("onboardings", "transitions", "outbox", "step_records", "step_attempts", "secrets")
    with store.engine.connect() as connection:
        return {
            t: [
                {k: v for k, v in r.items() if k not in ("id", "tx_id")}
                for r in connection.exec_driver_sql(f"SELECT * FROM {t} ORDER BY 1").mappings()
            ]
            for t in tables
        }


# --------------------------------------------------------------------------- 1. round trips
@pytest.mark.parametrize("last_error", [None, {}, {"code": "X", "ü": [None, {"b": True}]}])
@pytest.mark.parametrize("fast", [True, False], ids=["whole", "partial"])
def test_apply_stores_and_reads_back_what_the_change_holds(
    database_url_for_test: str, last_error: Any, fast: bool
) -> None:
    """A change written by either statement (the whole-checkpoint one, or the partial one)
    reads back as the values it held (load, history, records, attempts, secret), and SQLite
    stores its times as UTC text with microseconds, which the claim's ordering relies on."""
    store = SqlStore(make_engine(database_url_for_test))
    try:
        base = _claimed(store)
        change = _rich_change(base, fast=fast, last_error=last_error)
        returned = store.apply(change)
        loaded = store.load(base.id)
        assert returned == loaded.checkpoint
        got = loaded.checkpoint
        assert (got.version, got.updated_at, got.audit_seq) == (base.version + 1, T, 2)
        expected = {
            "state": "incomplete", "next_attempt_at": T + timedelta(minutes=1),
            "step_started_at": T, "last_error": last_error, "completion_deadline": T,
            "wake_on_callback": True, "predicted_rule": 3, "has_secrets": True,
            "lease_owner": "w1", "key": "k1", "spec": {"key": "k1"}, "created_at": NOW,
        }  # fmt: skip
        assert {name: getattr(got, name) for name in expected} == expected
        assert loaded.records == change.records
        assert change.transition is not None
        assert store.history(base.id)[-1] == dataclasses.replace(change.transition, anchor="")
        assert got.audit_head == change.transition.digest
        assert store.attempts(base.id) == change.attempts
        assert store.read_secret(base.id) == b"\x00\xffnew"
        if database_url_for_test.startswith("sqlite"):
            (row,) = _raw_rows(store)["onboardings"]
            assert (row["next_attempt_at"], row["lease_expires_at"]) == (
                "2026-05-01 09:01:00.123456",
                "2026-05-01 09:00:30.000000",
            )
    finally:
        store.engine.dispose()


def _masked_rows(store: SqlStore, masked: set[str]) -> dict[str, list[dict[str, Any]]]:
    return {
        table: sorted(
            ({k: ("*" if k in masked else v) for k, v in row.items()} for row in rows),
            key=repr,
        )
        for table, rows in _raw_rows(store).items()
    }


def test_the_prepared_commit_stores_the_bytes_the_core_commit_stores(
    database_url_for_test: str,
) -> None:
    """Two onboardings alike but for their id and key take the same rich change, one through
    the prepared whole-checkpoint statement (with its base), one through Core (without): every
    row of every table is stored the same (times as SQLite's text, JSON text, booleans), only
    the ids, keys and the digests chained from them differ."""
    store = SqlStore(make_engine(database_url_for_test))
    try:
        ((first, _), (second, _)) = store.insert_many([_new("a1"), _new("b2")])
        claims = {c.checkpoint.id: c.checkpoint for c in store.claim("w1", NOW, 30, 2)}
        for checkpoint, fast in ((claims[first.id], True), (claims[second.id], False)):
            change = _rich_change(checkpoint, fast=fast)
            returned = store.apply(change)
            assert returned == store.get(checkpoint.id)
        masked = {"onboarding_id", "key", "spec", "digest", "audit_head", "audit_anchor"}
        tables = _masked_rows(store, masked)
        for table, rows in tables.items():
            assert len(rows) % 2 == 0, table
            for row in rows:
                assert rows.count(row) == 2, f"{table}: {row} differs between the paths"
        (row, _other) = tables["onboardings"]
        if database_url_for_test.startswith("sqlite"):
            assert row["next_attempt_at"] == "2026-05-01 09:01:00.123456"
            assert row["last_error"].startswith('{"code": "X"')
    finally:
        store.engine.dispose()


def test_the_read_path_decodes_columns_as_the_table_metadata_says() -> None:
    """The DB-API read path decodes by the column kinds written out in persistence.columns;
    they are those of the tables (a new time, JSON or boolean column must be listed)."""
    from persistence.columns import KINDS, derive
    from persistence.dbapi import decode

    assert derive() == KINDS
    decoded = decode(
        {"next_attempt_at": "2026-05-01 09:01:00.123456", "last_error": '{"code": "X"}',
         "wake_on_callback": 1, "state": "pending", "since": "2026-05-01 11:00:00+02:00"}
    )  # fmt: skip
    assert decoded == {
        "next_attempt_at": T + timedelta(minutes=1), "last_error": {"code": "X"},
        "wake_on_callback": True, "state": "pending", "since": NOW,
    }  # fmt: skip
    assert decoded["since"].tzinfo is UTC


# --------------------------------------------------------------------------- 2. errors
def _hot_calls(store: SqlStore) -> dict[str, Callable[[], Any]]:
    base = Checkpoint(
        id="x" * 32, key="x", fingerprint="f" * 64, spec={}, state="pending", version=1,
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    return {
        "claim": lambda: store.claim("w", NOW, 30, 1),
        "read_secret": lambda: store.read_secret(base.id),
        "apply": lambda: store.apply(
            Change(base.id, 1, NOW, CheckpointUpdate(attempts=1), base=base)
        ),
        "load": lambda: store.load(base.id),
    }


@pytest.mark.parametrize("call", ["claim", "read_secret", "apply", "load"])
def test_unreachable_sqlite_file_is_a_store_error_on_the_hot_path(
    tmp_path: Path, call: str
) -> None:
    """A database that cannot be opened is a StoreError (and one CLI line) on every call:
    engine.raw_connection() raises the raw driver error, outside transaction()'s try."""
    folder = tmp_path / "gone"
    folder.mkdir()
    url = f"sqlite:///{folder / 'onboarding.db'}"
    store = SqlStore(make_engine(url))
    shutil.rmtree(folder)
    try:
        with pytest.raises(StoreError) as caught:
            _hot_calls(store)[call]()
        assert "unable to open database file" in str(caught.value)
        line = explain(caught.value, url)
        assert line is not None
        assert "cannot open the SQLite database" in line
    finally:
        store.engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("call", ["claim", "read_secret", "apply", "load"])
def test_unreachable_postgres_is_a_store_error_on_the_hot_path(call: str) -> None:
    """PostgreSQL refusing the connection (no such database) is a StoreError and one CLI line
    naming the database, not a raw psycopg.OperationalError and a traceback."""
    base = postgres_or_skip()
    url = make_url(base).set(database="onboarding_no_such_database").render_as_string(False)
    store = SqlStore(make_engine(url))
    try:
        with pytest.raises(StoreError) as caught:
            _hot_calls(store)[call]()
        assert "onboarding_no_such_database" in str(caught.value)
        line = explain(caught.value, url)
        assert line is not None
        assert "cannot connect to the database" in line
    finally:
        store.engine.dispose()


@pytest.mark.parametrize("fast", [True, False], ids=["whole", "partial"])
def test_an_unserialisable_value_is_refused_and_writes_nothing(
    database_url_for_test: str, fast: bool
) -> None:
    """A value the JSON serialiser refuses (a datetime inside last_error) fails the apply with
    the serialiser's message and writes nothing: StoreError on SQLite, where SQLAlchemy wraps a
    bind processor's failure as StatementError; psycopg's TypeError on PostgreSQL."""
    store = SqlStore(make_engine(database_url_for_test))
    try:
        base = _claimed(store)
        bad = {"when": NOW}
        change = Change(
            base.id, base.version, NOW, CheckpointUpdate(last_error=bad),
            base=base if fast else None,
        )  # fmt: skip
        expected = StoreError if database_url_for_test.startswith("sqlite") else TypeError
        with pytest.raises(expected, match="Object of type datetime is not JSON serializable"):
            store.apply(change)
        assert store.get(base.id).version == base.version
    finally:
        store.engine.dispose()


def test_read_only_sqlite_apply_is_a_store_error_with_the_cli_line(
    tmp_path: Path, migrated_sqlite: Path
) -> None:
    """Passes: a read-only database (opened mode=ro) gives StoreError and the read-only line."""
    url = _fresh_sqlite(migrated_sqlite, tmp_path)
    writer = SqlStore(make_engine(url))
    base = _claimed(writer)
    writer.engine.dispose()
    path = make_url(url).database
    ro_url = f"sqlite:///file:{path}?mode=ro&uri=true"
    store = SqlStore(make_engine(ro_url))
    try:
        with pytest.raises(StoreError) as caught:
            store.apply(_rich_change(base, fast=True))
        line = explain(caught.value, url)
        assert line is not None
        assert "read-only" in line
        assert "INSERT" not in str(caught.value)
        assert "wörker" not in str(caught.value)
        assert store.read_secret(base.id) == b"sealed"  # reads still work
    finally:
        store.engine.dispose()


# --------------------------------------------------------------------------- 3. transactions
def _install_failing_trigger(store: SqlStore) -> None:
    with store.engine.begin() as connection:
        if store.engine.dialect.name == "postgresql":
            connection.execute(
                text(
                    "CREATE OR REPLACE FUNCTION hot_path_boom() RETURNS trigger AS $$ BEGIN "
                    "IF NEW.trigger = 'boom' THEN RAISE EXCEPTION 'boom trigger'; END IF; "
                    "IF NEW.trigger = 'kill' THEN PERFORM pg_terminate_backend(pg_backend_pid());"
                    " END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER hot_path_boom BEFORE INSERT ON outbox FOR EACH ROW "
                    "EXECUTE FUNCTION hot_path_boom()"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE TRIGGER hot_path_boom BEFORE INSERT ON outbox "
                    "WHEN NEW.\"trigger\" = 'boom' BEGIN SELECT RAISE(ABORT, 'boom trigger'); END"
                )
            )


def test_a_failure_midway_through_apply_writes_nothing_and_leaks_nothing(
    database_url_for_test: str,
) -> None:
    """Passes: the outbox insert fails after the checkpoint update and the audit row: nothing
    is written; after 50 failures (and version conflicts) no connection is checked out."""
    store = SqlStore(make_engine(database_url_for_test))
    try:
        _install_failing_trigger(store)
        base = _claimed(store)
        before = _raw_rows(store)
        for _ in range(25):
            with pytest.raises((StoreError, Exception)) as caught:
                store.apply(_rich_change(base, fast=True, trigger="boom"))
            assert "boom trigger" in str(caught.value)
            with pytest.raises(ConcurrencyError):
                store.apply(
                    Change(base.id, base.version + 9, NOW, CheckpointUpdate(attempts=1), base=base)
                )
        assert _raw_rows(store) == before
        assert store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert store.apply(_rich_change(base, fast=True)).version == base.version + 1
    finally:
        store.engine.dispose()


@pytest.mark.postgres
def test_a_connection_killed_midway_writes_nothing_and_the_pool_recovers() -> None:
    """Passes: the backend is terminated between the checkpoint update and the outbox insert:
    StoreError naming the driver's first line, nothing written, and the next call succeeds."""
    url = postgres_or_skip()
    from persistence.migrate import upgrade

    _reset_postgres(url)
    engine = make_engine(url)
    upgrade(engine)
    store = SqlStore(engine)
    try:
        _install_failing_trigger(store)
        base = _claimed(store)
        before = _raw_rows(store)
        with pytest.raises(StoreError) as caught:
            store.apply(_rich_change(base, fast=True, trigger="kill"))
        assert "terminating connection" in str(caught.value)
        assert "UPDATE" not in str(caught.value)
        assert _raw_rows(store) == before
        with store.engine.connect() as connection:  # kill a pooled connection from outside
            pids = [connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()]
        killer = make_engine(url)
        with killer.connect() as other:
            for pid in pids:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        killer.dispose()
        assert store.read_secret(base.id) == b"sealed"
        assert [c.checkpoint.id for c in store.claim("w2", NOW + timedelta(hours=1), 30, 5)]
        assert store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        store.engine.dispose()


@pytest.mark.postgres
def test_the_postgres_claim_skips_rows_locked_by_another_claimer() -> None:
    """Passes: with the oldest due row locked by another transaction, a claim takes the next
    one at once (FOR UPDATE SKIP LOCKED) instead of waiting or taking the same row."""
    url = postgres_or_skip()
    from persistence.migrate import upgrade

    _reset_postgres(url)
    engine = make_engine(url)
    upgrade(engine)
    store = SqlStore(engine)
    try:
        store.insert_many([_new("a")])
        later = _new("b")
        later = dataclasses.replace(
            later,
            checkpoint=dataclasses.replace(
                later.checkpoint, next_attempt_at=NOW + timedelta(seconds=1)
            ),
        )
        store.insert_many([later])
        assert "SKIP LOCKED" in store.claim_statement("w", NOW, 30, 1)[0]
        got: list[Any] = []
        with engine.connect() as locker:
            locker.exec_driver_sql("SELECT id FROM onboardings WHERE key = 'a' FOR UPDATE").all()
            worker = threading.Thread(
                target=lambda: got.append(store.claim("w", NOW + timedelta(seconds=5), 30, 1))
            )
            worker.start()
            worker.join(10)
            locker.rollback()
        worker.join(10)
        assert [c.checkpoint.key for c in got[0]] == ["b"]
    finally:
        store.engine.dispose()


# --------------------------------------------------------------------------- 4. speed
def test_the_claim_reads_step_records_in_one_statement(
    tmp_path: Path, migrated_sqlite: Path
) -> None:
    """Claiming ten onboardings reads their step records with one statement, not one SELECT
    per claimed row inside the write transaction."""
    engine = make_engine(_fresh_sqlite(migrated_sqlite, tmp_path))
    statements: list[str] = []

    @event.listens_for(engine, "connect")
    def trace(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.set_trace_callback(statements.append)

    store = SqlStore(engine)
    try:
        store.insert_many([_new(f"k{i}") for i in range(10)])
        statements.clear()
        claims = store.claim("w", NOW, 30, 10)
        assert len(claims) == 10
        reads = [s for s in statements if "FROM step_records" in s]
        assert len(reads) == 1, f"{len(reads)} step_records reads for one claim"
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- time zones
def test_a_non_utc_time_keeps_its_instant(database_url_for_test: str) -> None:
    """A time given in another zone keeps its instant (SQLite stores times as text
    without an offset: 11:00+02:00 must be stored as 09:00 UTC, not read back as 11:00 UTC)."""
    store = SqlStore(make_engine(database_url_for_test))
    try:
        base = _claimed(store)
        due = datetime(2026, 5, 1, 11, 0, 0, 654321, tzinfo=timezone(timedelta(hours=2)))
        store.apply(
            Change(base.id, base.version, NOW, CheckpointUpdate(next_attempt_at=due), base=base)
        )
        assert store.get(base.id).next_attempt_at == due
    finally:
        store.engine.dispose()
