"""The store's contract, run on SQLite and (when configured) PostgreSQL.

Every test takes the ``store`` fixture (tests/conftest.py), parametrised over both backends,
so the same contract tests run against each store, as APScheduler's data-store tests do; with
``ONBOARDING_TEST_REQUIRE_POSTGRES=1`` a missing PostgreSQL fails instead of skipping.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta

import pytest

from persistence.db import make_engine
from persistence.migrate import current_revision, ensure_current, head_revision, upgrade
from persistence.store import SqlStore
from tests.conftest import TEST_VAULT
from workflow.core.audit_chain import chained
from workflow.core.errors import (
    ConcurrencyError,
    OnboardingNotFoundError,
    SchemaOutdatedError,
    StoreError,
)
from workflow.ports import (
    AttemptRecord,
    AuditEntry,
    Change,
    Checkpoint,
    CheckpointUpdate,
    Holder,
    NewOnboarding,
    StepRecord,
)

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def _new(key: str = "k1", secret: bytes | None = None, **overrides: object) -> NewOnboarding:
    values: dict[str, object] = {
        "id": key.ljust(32, "0")[:32], "key": key, "fingerprint": "f" * 64, "spec": {"key": key},
        "state": "pending", "version": 0, "next_attempt_at": NOW, "created_at": NOW,
        "updated_at": NOW,
    }  # fmt: skip
    values.update(overrides)
    checkpoint = Checkpoint(**values)  # type: ignore[arg-type]
    entry = chained(
        checkpoint, AuditEntry("start", None, checkpoint.state, "test", NOW), TEST_VAULT
    )
    checkpoint = dataclasses.replace(
        checkpoint, audit_seq=entry.seq, audit_head=entry.digest, audit_anchor=entry.anchor
    )
    return NewOnboarding(checkpoint, entry, secret)


def _start(
    store: SqlStore, key: str = "k1", secret: bytes | None = None, **overrides: object
) -> Checkpoint:
    ((row, created),) = store.insert_many([_new(key, secret, **overrides)])
    assert created
    return row


def _change(row: Checkpoint, **fields: object) -> Change:
    return Change(row.id, row.version, NOW, CheckpointUpdate(**fields))  # type: ignore[arg-type]


def test_insert_is_idempotent_on_key(store: SqlStore) -> None:
    """A second insert with the same key stores nothing and returns the first row."""
    first = _start(store)
    ((again, created),) = store.insert_many([_new("k1", id="x" * 32)])
    assert (created, again.id) == (False, first.id)
    assert len(store.list_onboardings()) == 1
    assert len(store.history(first.id)) == 1


def test_insert_many_is_all_or_nothing(store: SqlStore) -> None:
    """When one row of a batch cannot be stored, none of the batch is."""
    _start(store, "taken")
    clash = _new("fresh-b", id="taken".ljust(32, "0"))  # the id of an existing row
    with pytest.raises(Exception):  # noqa: B017,PT011 - the driver's integrity error
        store.insert_many([_new("fresh-a"), clash])
    assert [r.key for r in store.list_onboardings()] == ["taken"]


def test_a_row_the_database_keeps_refusing_is_reported_as_such(store: SqlStore) -> None:
    """A new key whose row the database refuses every time (here its id is taken by another
    onboarding) is a StoreError saying so and naming the constraint; nothing is stored."""
    first = _start(store, "k1")
    with pytest.raises(StoreError) as caught:
        store.insert_many([_new("k2", id=first.id), _new("k3")])
    message = str(caught.value)
    assert "could not store onboardings 'k2', 'k3': the database refused the rows" in message
    assert "unique" in message.lower()  # the constraint, in the database's words
    assert "keys keep changing" not in message
    assert [row.key for row in store.list_onboardings()] == ["k1"]


def test_times_come_back_timezone_aware(store: SqlStore) -> None:
    """Every stored time reads back as aware UTC, on every backend."""
    row = store.get(_start(store).id)
    assert row.created_at == NOW
    assert row.next_attempt_at is not None
    assert row.next_attempt_at.tzinfo is not None


def test_apply_writes_checkpoint_audit_records_and_attempts_together(store: SqlStore) -> None:
    """One change moves the state, bumps the version, appends the audit row, the step record
    and the attempts, deletes the secret, and returns the new checkpoint."""
    row = _start(store, secret=b"ciphertext")
    attempt = AttemptRecord(
        "create_profile", 1, "POST", "/v3/profiles", NOW, 12.5, "ok", "key-1", 201, None,
        "req_1", resource_id="p1",
    )  # fmt: skip
    entry = chained(
        row,
        AuditEntry("create_profile", "pending", "incomplete", "w", NOW, request_id="req_1"),
        TEST_VAULT,
    )
    record = StepRecord("create_profile", "profile", 0, done=True, output={"profile_id": "p1"})
    saved = store.apply(
        Change(
            row.id, row.version, NOW, CheckpointUpdate(state="incomplete", profile_id="p1"),
            entry, records=[record], attempts=[attempt], secret=b"",
        )
    )  # fmt: skip
    assert (saved.state, saved.profile_id, saved.version) == ("incomplete", "p1", row.version + 1)
    assert (saved.audit_seq, saved.audit_head) == (2, entry.digest)
    assert saved == store.get(row.id)  # what RETURNING gave is what is stored
    assert [(t.seq, t.trigger, t.to_state) for t in store.history(row.id)] == [
        (1, "start", "pending"),
        (2, "create_profile", "incomplete"),
    ]
    assert [(a.step, a.http_status, a.request_id) for a in store.attempts(row.id)] == [
        ("create_profile", 201, "req_1")
    ]
    assert store.records(row.id, 0) == [record]
    assert store.resource_ids(row.id, "create_profile") == ["p1"]
    assert store.read_secret(row.id) is None


def test_holders_name_every_onboarding_holding_an_id_and_attempts_keep_their_content(
    store: SqlStore,
) -> None:
    """Who holds an id: by its checkpoint's profile id, or an attempt naming it (a create's
    answer, a refused commit's too, or what a lookup adopted); a step record alone holds
    nothing. An item's attempts come back in order with the content digest each sent."""
    first = _start(store, "first", profile_id="p-checkpoint")
    second = _start(store, "second")
    third = _start(store, "third")
    sent = AttemptRecord(
        "attach_campaigns", 1, "POST", "/v3/profiles/p/campaigns", NOW, 3.0, "retry", "key-c",
        item="campaign-0", generation=1, content_digest="d" * 64,
    )  # fmt: skip
    answered = dataclasses.replace(sent, outcome="ok", resource_id="c-answered")
    store.record_attempts(second.id, [sent, answered])
    looked = AttemptRecord(
        "attach_campaigns", 1, "GET", "/v3/profiles/p/campaigns", NOW, 2.0, "ok",
        item="campaign-1", resource_id="c-adopted",
    )  # fmt: skip
    only_recorded = StepRecord(
        "attach_campaigns", "campaign-2", 0, done=True, output={"campaign_id": "c-recorded"}
    )
    store.apply(Change(third.id, third.version, NOW, records=[only_recorded], attempts=[looked]))

    held = store.holders(["p-checkpoint", "c-answered", "c-adopted", "c-recorded", "nobody's"])
    assert held == {
        "p-checkpoint": [Holder(first.id, "first")],
        "c-answered": [Holder(second.id, "second")],
        "c-adopted": [Holder(third.id, "third")],
    }
    assert store.holders([]) == {}
    assert store.item_attempts(second.id, "attach_campaigns", "campaign-0") == [sent, answered]
    assert store.item_attempts(second.id, "attach_campaigns", "campaign-1") == []


def test_records_are_replaced_per_item_and_kept_per_generation(store: SqlStore) -> None:
    """A record is keyed by (onboarding, generation, step, item): writing it again replaces it."""
    row = _start(store)
    open_record = StepRecord("s", "i", 0, uncertain=True, first_sent_at=NOW)
    row = store.apply(dataclasses.replace(_change(row), records=[open_record]))
    done = StepRecord("s", "i", 0, done=True, output={"x": 1}, key_seq=1)
    later = StepRecord("s", "i", 1, done=True, output={"x": 2})
    store.apply(dataclasses.replace(_change(row), records=[done, later]))
    assert store.records(row.id, 0) == [done]
    assert store.records(row.id, 1) == [later]


def test_stale_version_is_a_concurrency_error_and_writes_nothing(store: SqlStore) -> None:
    """A change against an old version raises and leaves checkpoint, audit and secret untouched."""
    row = _start(store, secret=b"ciphertext")
    store.apply(_change(row, attempts=1))
    entry = chained(
        row, AuditEntry("create_profile", "pending", "incomplete", "w", NOW), TEST_VAULT
    )
    with pytest.raises(ConcurrencyError, match=row.id):
        store.apply(
            Change(
                row.id, row.version, NOW, CheckpointUpdate(state="incomplete"), entry,
                records=[StepRecord("s", "i", 0, done=True)], secret=b"",
            )
        )  # fmt: skip
    assert store.get(row.id).state == "pending"
    assert len(store.history(row.id)) == 1
    assert store.records(row.id, 0) == []
    assert store.read_secret(row.id) == b"ciphertext"


def test_claim_respects_due_time_and_leases(store: SqlStore) -> None:
    """Only due, runnable, unleased onboardings are claimed (with their records); an expired
    lease can be taken over."""
    due = _start(store, "due")
    due = store.apply(
        dataclasses.replace(_change(due), records=[StepRecord("s", "i", 0, done=True)])
    )
    _start(store, "later", next_attempt_at=NOW + timedelta(minutes=5))
    _start(store, "paused", state="needs_attention", next_attempt_at=None)
    claimed = store.claim("w1", NOW, 30, 10)
    assert [c.checkpoint.key for c in claimed] == ["due"]
    assert claimed[0].checkpoint.lease_owner == "w1"
    assert claimed[0].checkpoint.version == due.version + 1
    assert [r.item for r in claimed[0].records] == ["i"]
    assert store.claim("w2", NOW + timedelta(seconds=10), 30, 10) == []
    taken = store.claim("w2", NOW + timedelta(seconds=31), 30, 10)
    assert [c.checkpoint.lease_owner for c in taken] == ["w2"]
    with pytest.raises(ConcurrencyError):  # the first worker's lease was taken over
        store.apply(_change(claimed[0].checkpoint, attempts=1))


@pytest.mark.parametrize("skipped", [1, 3, 5])
def test_a_claim_leaves_out_the_ids_it_is_told_to_skip(store: SqlStore, skipped: int) -> None:
    """The ids a worker still holds are never claimed again, whatever their number (the
    claim pads the list it sends to a power of two with one of them); every other due
    onboarding is claimed, each with its own step records."""
    rows = [_start(store, f"k{index}") for index in range(7)]
    with_record = store.apply(
        dataclasses.replace(_change(rows[-1]), records=[StepRecord("s", "last", 0, done=True)])
    )
    skip = {row.id for row in rows[:skipped]}
    claimed = store.claim("w1", NOW, 30, 10, skip=skip)
    assert sorted(c.checkpoint.key for c in claimed) == [f"k{i}" for i in range(skipped, 7)]
    records = {c.checkpoint.id: [r.item for r in c.records] for c in claimed}
    assert records[with_record.id] == ["last"]
    assert all(items == [] for oid, items in records.items() if oid != with_record.id)


def test_a_releasing_change_ends_the_lease(store: SqlStore) -> None:
    """A change that releases the claim clears the lease in the same commit."""
    _start(store)
    (claim,) = store.claim("w1", NOW, 30, 1)
    saved = store.apply(
        dataclasses.replace(_change(claim.checkpoint, next_attempt_at=NOW), release="w1")
    )
    assert (saved.lease_owner, saved.lease_expires_at) == (None, None)
    assert [c.checkpoint.id for c in store.claim("w2", NOW, 30, 1)] == [saved.id]


def test_concurrent_claims_never_share_an_onboarding(store: SqlStore) -> None:
    """Eight threads claiming at once get disjoint sets covering every due onboarding."""
    for index in range(40):
        _start(store, f"k{index:02d}")
    results: dict[str, list[str]] = {}

    def claim(owner: str) -> None:
        got: list[str] = []
        for _ in range(10):
            got += [c.checkpoint.id for c in store.claim(owner, NOW, 60, 3)]
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
    store.claim("w1", NOW, 30, 1)
    store.extend_leases([row.id], "w1", NOW + timedelta(seconds=90))
    assert store.claim("w2", NOW + timedelta(seconds=60), 30, 1) == []
    store.release(row.id, "w1")
    assert store.get(row.id).lease_owner is None
    assert [c.checkpoint.id for c in store.claim("w2", NOW + timedelta(seconds=60), 30, 1)] == [
        row.id
    ]


def test_callbacks_are_recorded_once_and_wake_only_waiting_onboardings(store: SqlStore) -> None:
    """An accepted callback makes a waiting onboarding due; a replayed webhook id is refused;
    an onboarding not waiting for a callback is not woken."""
    row = _start(store, "waiting", next_attempt_at=NOW + timedelta(hours=1), wake_on_callback=True)
    other = _start(store, "busy", next_attempt_at=NOW + timedelta(hours=1))
    later = NOW + timedelta(minutes=1)
    assert store.record_callback(row.id, "msg_1", "completed", {"status": "completed"}, later)
    assert store.get(row.id).next_attempt_at == later
    assert not store.record_callback(row.id, "msg_1", "completed", {}, later)
    assert len(store.callbacks(row.id)) == 1
    assert store.record_callback(other.id, "msg_2", None, {}, later)
    assert store.get(other.id).next_attempt_at == NOW + timedelta(hours=1)
    assert store.has_onboarding(row.id)
    assert not store.has_onboarding("0" * 32)


def test_callbacks_without_a_webhook_id_keep_one_row_per_onboarding(store: SqlStore) -> None:
    """Callbacks without a webhook id each wake the onboarding, and each replaces the last
    one of its onboarding: a flood of them does not grow the table."""
    row = _start(store, "waiting", next_attempt_at=None, wake_on_callback=True)
    other = _start(store, "other", next_attempt_at=None, wake_on_callback=True)
    for n in range(50):
        at = NOW + timedelta(seconds=n)
        assert store.record_callback(row.id, None, "submitted", {"n": n}, at)
        assert store.get(row.id).next_attempt_at == at
    assert store.record_callback(row.id, "msg_1", "completed", {"n": "with id"}, NOW)
    assert store.record_callback(other.id, None, None, {"n": "other"}, NOW)
    assert [(c["webhook_id"], c["payload"]) for c in store.callbacks(row.id)] == [
        (None, {"n": 49}),
        ("msg_1", {"n": "with id"}),
    ]
    assert len(store.callbacks(other.id)) == 1


def test_a_callback_during_a_wait_keeps_the_onboarding_due(store: SqlStore) -> None:
    """A callback that arrives while a step decides to wait is not lost by the wait's commit."""
    row = _start(store, next_attempt_at=NOW, wake_on_callback=True)
    store.record_callback(row.id, "msg_1", None, {}, NOW + timedelta(seconds=1))
    saved = store.apply(
        dataclasses.replace(
            _change(row, next_attempt_at=NOW + timedelta(minutes=10)),
            wake_if_nudged_since=NOW,
        )
    )
    assert saved.next_attempt_at == NOW
    quiet = store.apply(
        dataclasses.replace(
            _change(saved, next_attempt_at=NOW + timedelta(minutes=10)),
            wake_if_nudged_since=NOW + timedelta(seconds=5),
        )
    )
    assert quiet.next_attempt_at == NOW + timedelta(minutes=10)


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


def test_the_head_constant_is_the_newest_migration() -> None:
    """persistence.migrate.HEAD (checked without loading Alembic) names the newest migration."""
    from alembic.script import ScriptDirectory

    from persistence.migrate import HEAD, alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_current_head() == HEAD


def test_a_change_with_its_base_writes_the_same_as_a_partial_one(store: SqlStore) -> None:
    """Given the checkpoint it applies to, a change is written with one prepared statement and
    returns exactly what a fresh read gives; the lease and a callback's nudge are respected."""
    _start(store)
    (claim,) = store.claim("w1", NOW, 30, 1)
    base = claim.checkpoint
    entry = chained(
        base, AuditEntry("create_profile", "pending", "incomplete", "w1", NOW), TEST_VAULT
    )
    saved = store.apply(
        Change(
            base.id, base.version, NOW, CheckpointUpdate(state="incomplete", profile_id="p1",
            last_error={"code": "X"}), entry, base=base,
        )
    )  # fmt: skip
    assert saved == store.get(base.id)
    assert (saved.state, saved.profile_id, saved.lease_owner) == ("incomplete", "p1", "w1")
    assert (saved.audit_seq, saved.audit_head) == (2, entry.digest)
    store.record_callback(base.id, None, None, {}, NOW)  # not waiting: no nudge
    waiting = store.apply(
        Change(saved.id, saved.version, NOW, CheckpointUpdate(wake_on_callback=True), base=saved)
    )
    store.record_callback(base.id, "m1", None, {}, NOW + timedelta(seconds=1))
    waiting = store.get(base.id)
    later = NOW + timedelta(minutes=5)
    woken = store.apply(
        Change(
            waiting.id, waiting.version, NOW, CheckpointUpdate(next_attempt_at=later),
            release="w1", wake_if_nudged_since=NOW, base=waiting,
        )
    )  # fmt: skip
    assert woken == store.get(base.id)
    assert (woken.next_attempt_at, woken.lease_owner, woken.lease_expires_at) == (NOW, None, None)
    with pytest.raises(ConcurrencyError):
        store.apply(Change(base.id, base.version, NOW, CheckpointUpdate(attempts=3), base=base))


def test_a_held_change_leaves_the_columns_it_does_not_name_as_stored(store: SqlStore) -> None:
    """A change from the checkpoint's holder writes only the columns it names: a callback's
    wake-up that arrived after the holder read the checkpoint stays, and the change returns
    what a fresh read gives."""
    later = NOW + timedelta(hours=1)
    _start(store, next_attempt_at=NOW, wake_on_callback=True)
    (claim,) = store.claim("w1", NOW, 30, 1)
    held = store.apply(
        Change(claim.checkpoint.id, claim.checkpoint.version, NOW,
               CheckpointUpdate(next_attempt_at=later), base=claim.checkpoint)
    )  # fmt: skip
    woken_at = NOW + timedelta(seconds=1)
    assert store.record_callback(held.id, "msg_1", None, {}, woken_at)
    saved = store.apply(Change(held.id, held.version, NOW, CheckpointUpdate(attempts=1), base=held))
    assert (saved.attempts, saved.next_attempt_at, saved.version) == (1, woken_at, 3)
    assert saved == store.get(held.id)


@pytest.mark.parametrize("with_base", [True, False])
def test_deleting_the_secret_clears_has_secrets(store: SqlStore, with_base: bool) -> None:
    """A change that deletes the sealed secret also says no secret is held (both commit paths);
    replacing it says one is."""
    row = _start(store, secret=b"sealed", has_secrets=True)
    assert store.read_secret(row.id) == b"sealed"
    cleared = store.apply(
        dataclasses.replace(
            _change(row, state="incomplete"), secret=b"", base=row if with_base else None
        )
    )
    assert (cleared.has_secrets, store.read_secret(row.id)) == (False, None)
    assert store.get(row.id).has_secrets is False
    sealed = store.apply(
        dataclasses.replace(
            _change(cleared, state="incomplete"), secret=b"again",
            base=cleared if with_base else None,
        )
    )  # fmt: skip
    assert (sealed.has_secrets, store.get(row.id).has_secrets) == (True, True)
