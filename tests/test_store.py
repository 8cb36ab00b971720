"""The store's contract, run on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from persistence.db import make_engine
from persistence.migrate import current_revision, ensure_current, head_revision, upgrade
from persistence.models import OnboardingRow
from persistence.store import SqlStore
from workflow.errors import ConcurrencyError, OnboardingNotFoundError, SchemaOutdatedError
from workflow.ports import AttemptRecord, AuditEntry

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def _row(key: str = "k1", **overrides: object) -> OnboardingRow:
    values: dict[str, object] = {
        "id": key.ljust(32, "0")[:32], "key": key, "fingerprint": "f" * 64, "spec": {"key": key},
        "state": "pending", "progress": {}, "next_attempt_at": NOW, "created_at": NOW, "updated_at": NOW,
    }  # fmt: skip
    values.update(overrides)
    return OnboardingRow(**values)  # type: ignore[arg-type]


def _start(
    store: SqlStore, key: str = "k1", secret: bytes | None = None, **overrides: object
) -> OnboardingRow:
    row, created = store.insert(
        _row(key, **overrides), AuditEntry("start", None, "pending", "test", NOW), secret
    )
    assert created
    return row


def test_insert_is_idempotent_on_key(store: SqlStore) -> None:
    """A second insert with the same key stores nothing and returns the first row."""
    first = _start(store)
    again, created = store.insert(
        _row("k1", id="x" * 32), AuditEntry("start", None, "pending", "t", NOW), None
    )
    assert (created, again.id) == (False, first.id)
    assert len(store.list_onboardings()) == 1
    assert len(store.history(first.id)) == 1


def test_times_come_back_timezone_aware(store: SqlStore) -> None:
    """Every stored time reads back as aware UTC, on every backend."""
    row = store.get(_start(store).id)
    assert row.created_at == NOW
    assert row.next_attempt_at is not None
    assert row.next_attempt_at.tzinfo is not None


def test_commit_writes_checkpoint_audit_and_attempts_together(store: SqlStore) -> None:
    """One commit moves the state, bumps the version, appends the audit row and the attempts."""
    row = _start(store, secret=b"ciphertext")
    attempt = AttemptRecord(
        "create", 1, "POST", "/v3/profiles", NOW, 12.5, "ok", "key-1", 201, None, "req_1"
    )
    saved = store.commit(
        row.id, row.version, {"state": "incomplete", "profile_id": "p1"},
        entry=AuditEntry("create_profile", "pending", "incomplete", "engine", NOW, request_id="req_1"),
        attempts=[attempt], delete_secret=True,
    )  # fmt: skip
    assert (saved.state, saved.profile_id, saved.version) == ("incomplete", "p1", row.version + 1)
    assert [(t.seq, t.trigger, t.to_state) for t in store.history(row.id)] == [
        (1, "start", "pending"),
        (2, "create_profile", "incomplete"),
    ]
    assert [(a.step, a.http_status, a.request_id) for a in store.attempts(row.id)] == [
        ("create", 201, "req_1")
    ]
    assert store.read_secret(row.id) is None


def test_stale_version_is_a_concurrency_error_and_writes_nothing(store: SqlStore) -> None:
    """A commit against an old version raises and leaves checkpoint, audit and secret untouched."""
    row = _start(store, secret=b"ciphertext")
    store.commit(row.id, row.version, {"attempts": 1})
    with pytest.raises(ConcurrencyError, match=row.id):
        store.commit(
            row.id, row.version, {"state": "incomplete"},
            entry=AuditEntry("create_profile", "pending", "incomplete", "engine", NOW), delete_secret=True,
        )  # fmt: skip
    assert store.get(row.id).state == "pending"
    assert len(store.history(row.id)) == 1
    assert store.read_secret(row.id) == b"ciphertext"


def test_claim_respects_due_time_state_and_leases(store: SqlStore) -> None:
    """Only due, active, unleased onboardings are claimed; an expired lease can be taken over."""
    due = _start(store, "due")
    _start(store, "later", next_attempt_at=NOW + timedelta(minutes=5))
    _start(store, "paused", state="needs_attention")
    claimed = store.claim_due("w1", NOW, 30, 10)
    assert [r.key for r in claimed] == ["due"]
    assert claimed[0].lease_owner == "w1"
    assert claimed[0].version == due.version + 1
    assert store.claim_due("w2", NOW + timedelta(seconds=10), 30, 10) == []
    taken = store.claim_due("w2", NOW + timedelta(seconds=31), 30, 10)
    assert [r.lease_owner for r in taken] == ["w2"]
    with pytest.raises(ConcurrencyError):  # the first worker's lease was taken over
        store.commit(due.id, claimed[0].version, {"attempts": 1})


def test_concurrent_claims_never_share_an_onboarding(store: SqlStore) -> None:
    """Eight threads claiming at once get disjoint sets covering every due onboarding."""
    for index in range(40):
        _start(store, f"k{index:02d}")
    results: dict[str, list[str]] = {}

    def claim(owner: str) -> None:
        got: list[str] = []
        for _ in range(10):
            got += [r.id for r in store.claim_due(owner, NOW, 60, 3)]
        results[owner] = got

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [i for ids in results.values() for i in ids]
    assert len(everything) == len(set(everything)) == 40


def test_heartbeat_and_release(store: SqlStore) -> None:
    """A heartbeat keeps the lease; release frees it for the next claim."""
    row = _start(store)
    store.claim_due("w1", NOW, 30, 1)
    store.extend_leases([row.id], "w1", NOW + timedelta(seconds=90))
    assert store.claim_due("w2", NOW + timedelta(seconds=60), 30, 1) == []
    store.release(row.id, "w1")
    assert store.get(row.id).lease_owner is None
    assert [r.id for r in store.claim_due("w2", NOW + timedelta(seconds=60), 30, 1)] == [row.id]


def test_callbacks_are_recorded_once_and_nudge(store: SqlStore) -> None:
    """An accepted callback makes a waiting onboarding due; a replayed webhook id is refused."""
    row = _start(store, state="complete", next_attempt_at=NOW + timedelta(hours=1))
    later = NOW + timedelta(minutes=1)
    assert store.record_callback(row.id, "msg_1", "completed", {"status": "completed"}, later)
    assert store.get(row.id).next_attempt_at == later
    assert not store.record_callback(row.id, "msg_1", "completed", {}, later)
    assert len(store.callbacks(row.id)) == 1


def test_find_by_id_or_key(store: SqlStore) -> None:
    """Operators may name an onboarding by id or by key."""
    row = _start(store, "ops-key")
    assert store.find("ops-key").id == row.id
    assert store.find(row.id).key == "ops-key"
    with pytest.raises(OnboardingNotFoundError, match="onboarding list"):
        store.find("nope")


def test_next_due_and_count_active(store: SqlStore) -> None:
    """The runner learns when the next onboarding is due and how many remain."""
    _start(store, "a", next_attempt_at=NOW + timedelta(seconds=30))
    _start(store, "b", state="completed", next_attempt_at=None)
    assert store.count_active() == 1
    assert store.next_due() == NOW + timedelta(seconds=30)


def test_schema_check_refuses_an_out_of_date_database(tmp_path: object) -> None:
    """An empty (or older) schema is refused with the command that fixes it."""
    engine = make_engine(f"sqlite:///{tmp_path}/empty.db")
    with pytest.raises(SchemaOutdatedError, match="onboarding db upgrade"):
        ensure_current(engine)
    engine.dispose()
    assert upgrade(engine) == head_revision()
    assert current_revision(engine) == head_revision()
    ensure_current(engine)
    engine.dispose()
