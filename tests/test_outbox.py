"""The transition outbox: one event per transition, in the transition's transaction, in order."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from persistence.outbox import OUTBOX, publish
from persistence.store import SqlStore
from tests.conftest import CARD_NUMBER, CVC, WHATSAPP_TOKEN, Harness
from workflow.core.errors import ConcurrencyError
from workflow.core.spec import parse_spec
from workflow.following.events import Event, EventPosition
from workflow.ports import AuditEntry, Change, CheckpointUpdate

SCHEMA = Path(__file__).resolve().parent.parent / "docs" / "schema" / "event.json"


def read_all(store: SqlStore, name: str = "reader", *, at_least: int = 1) -> list[Event]:
    """Every event, in delivery order, read in small batches (without moving the cursor).

    PostgreSQL hands out an event once every transaction older than it has ended, in the whole
    cluster (other databases' tests too): wait until at least ``at_least`` are handed out.
    """
    deadline = time.monotonic() + 10
    while True:
        found: list[Event] = []
        after: EventPosition | None = None
        while batch := store.read_events(name, 7, store_now(), after):
            found += batch
            after = batch[-1].position
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.01)


def count_rows(store: SqlStore) -> int:
    """Committed outbox rows, whether handed out yet or not."""
    with store.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM outbox")).scalar_one())


def store_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_every_transition_of_a_run_is_an_event_in_order(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Engine and operator transitions and each start are events matching the audit log."""
    ids = [harness.start(raw) for raw in samples.values()]
    harness.run()
    paused = next(i for i in ids if harness.store.get(i).state == "needs_attention")
    harness.ops.cancel(paused, actor="alice", reason="duplicate request", batch_id="b1")
    events = read_all(harness.store, at_least=count_rows(harness.store))
    for onboarding_id in ids:
        history = harness.store.history(onboarding_id)
        mine = [e for e in events if e.onboarding_id == onboarding_id]
        assert [(e.seq, e.trigger, e.from_state, e.to_state, e.actor, e.reason) for e in mine] == [
            (h.seq, h.trigger, h.from_state, h.to_state, h.actor, h.reason) for h in history
        ]
        key = harness.store.get(onboarding_id).key
        assert {e.key for e in mine} == {key}
        assert [e.profile_id for e in mine] == [h.profile_id for h in history]
        assert [e.at for e in mine] == [h.at for h in history]
    assert len({e.event_id for e in events}) == len(events)
    last = events[-1]
    assert (last.onboarding_id, last.trigger, last.actor, last.batch_id) == (
        paused, "cancel", "alice", "b1",
    )  # fmt: skip
    pause = next(e for e in events if e.onboarding_id == paused and e.trigger == "pause")
    assert pause.details is not None
    assert pause.details["code"] == "PREREQUISITES"


def test_a_refused_change_publishes_nothing(harness: Harness, samples: dict[str, Any]) -> None:
    """A transition whose version check fails leaves no event (same transaction)."""
    onboarding_id = harness.start(samples["demo-inherited"])
    row = harness.store.get(onboarding_id)
    entry = AuditEntry("pause", row.state, "needs_attention", "test", harness.clock.now(), seq=2)
    stale = Change(
        onboarding_id, row.version + 1, harness.clock.now(),
        CheckpointUpdate(state="needs_attention"), entry,
    )  # fmt: skip
    with pytest.raises(ConcurrencyError):
        harness.store.apply(stale)
    assert [e.trigger for e in read_all(harness.store, at_least=count_rows(harness.store))] == [
        "start"
    ]


def test_a_change_without_its_checkpoint_reads_the_key(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """A transition committed without ``base`` still names the onboarding's key."""
    onboarding_id = harness.start(samples["demo-inherited"])
    row = harness.store.get(onboarding_id)
    entry = AuditEntry("pause", row.state, "needs_attention", "test", harness.clock.now(), seq=2)
    harness.store.apply(
        Change(
            onboarding_id, row.version, harness.clock.now(),
            CheckpointUpdate(state="needs_attention"), entry,
        )
    )  # fmt: skip
    assert [(e.trigger, e.key) for e in read_all(harness.store, at_least=2)] == [
        ("start", "demo-inherited"), ("pause", "demo-inherited"),
    ]  # fmt: skip


def test_starting_a_key_again_publishes_nothing_new(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """start_many publishes one start event per new onboarding, none for existing keys."""
    specs = [parse_spec(raw, today=harness.clock.now().date()) for raw in samples.values()]
    harness.ops.start_many(specs[:2], actor="api")
    harness.ops.start_many(specs, actor="api")
    events = read_all(harness.store, at_least=count_rows(harness.store))
    assert sorted(e.key for e in events) == sorted(s.key for s in specs)
    assert {(e.trigger, e.seq, e.from_state, e.to_state) for e in events} == {
        ("start", 1, None, "pending")
    }


def test_events_hold_no_secrets_and_match_the_schema(
    harness: Harness, secret_spec: dict[str, Any]
) -> None:
    """The event JSON of a run with card data and a token matches docs/schema/event.json and
    holds neither."""
    jsonschema = pytest.importorskip("jsonschema")
    harness.start(secret_spec)
    harness.run()
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    events = [e.to_json() for e in read_all(harness.store, at_least=count_rows(harness.store))]
    assert len(events) >= 6
    for event in events:
        jsonschema.validate(event, schema)
        assert event["at"].endswith("+00:00")
    dump = json.dumps(events)
    for secret in (CARD_NUMBER, WHATSAPP_TOKEN):
        assert secret not in dump
    # Three digits also occur inside random ids and request ids: the CVC as a value of its own.
    assert not re.search(rf"(?<![0-9A-Za-z]){CVC}(?![0-9A-Za-z])", dump)


@pytest.mark.postgres
def test_an_event_committed_late_is_not_overtaken(store: SqlStore) -> None:
    """On PostgreSQL a reader never returns event 11 while event 10 is uncommitted."""
    if not store._postgres:
        pytest.skip("SQLite has one writer at a time: ids commit in order")
    now = store_now()

    def entry(seq: int) -> AuditEntry:
        return AuditEntry("start", None, "pending", "test", now, seq=seq)

    with store.engine.connect() as early:
        transaction = early.begin()
        publish(early, True, [("a" * 32, "early", entry(1))])  # takes the lower id, uncommitted
        with store.engine.begin() as late:
            publish(late, True, [("b" * 32, "late", entry(1))])
        with store.engine.connect() as reader:
            visible = reader.execute(text("SELECT count(*) FROM outbox")).scalar_one()
        assert visible == 1  # the late one is committed and visible...
        assert store.read_events("reader", 10, now) == []  # ...but not handed out yet
        transaction.commit()
    assert [e.key for e in read_all(store, at_least=2)] == ["early", "late"]


def test_positions_are_never_reused_after_pruning(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """After every event was delivered and pruned, a new event still reaches the subscriber."""
    first = harness.start(samples["demo-inherited"])
    events = read_all(harness.store, "app", at_least=1)
    harness.store.ack_events("app", events[-1].position, len(events), harness.clock.now())
    assert harness.store.prune_events(harness.clock.now() + timedelta(seconds=1)) == 1
    assert harness.store.count_events() == 0
    second = harness.start(samples["demo-own-brand-tcr"])
    fresh = read_all(harness.store, "app", at_least=1)
    assert [e.onboarding_id for e in fresh] == [second]
    assert fresh[0].position > events[-1].position
    assert first != second


def test_pruning_keeps_what_a_subscriber_has_not_handled(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Old events wait for the slowest subscriber unless pruned with undelivered=True."""
    harness.start(samples["demo-inherited"])
    harness.clock.advance(3600)
    harness.start(samples["demo-own-brand-tcr"])
    fast = read_all(harness.store, "fast", at_least=2)
    harness.store.ack_events("fast", fast[-1].position, len(fast), harness.clock.now())
    harness.store.read_events("slow", 100, harness.clock.now())  # registers, handles nothing
    cutoff = harness.clock.now() - timedelta(minutes=30)
    assert harness.store.prune_events(cutoff) == 0
    positions = {p.name: (p.delivered, p.pending) for p in harness.store.subscribers()}
    assert positions == {"fast": (2, 0), "slow": (0, 2)}
    assert harness.store.prune_events(cutoff, undelivered=True) == 1
    assert [e.key for e in read_all(harness.store, "other")] == ["demo-own-brand-tcr"]
    assert harness.store.drop_subscriber("slow")
    assert not harness.store.drop_subscriber("slow")


def test_a_cursor_only_moves_forward(harness: Harness, samples: dict[str, Any]) -> None:
    """Acknowledging an older position than the cursor's changes nothing."""
    for raw in list(samples.values())[:3]:
        harness.start(raw)
    events = read_all(harness.store, "app", at_least=3)
    harness.store.ack_events("app", events[2].position, 3, harness.clock.now())
    harness.store.ack_events("app", events[0].position, 1, harness.clock.now())
    assert harness.store.read_events("app", 100, harness.clock.now()) == []
    assert dataclasses.astuple(harness.store.subscribers()[0])[:3] == ("app", 3, 0)


def test_outbox_rows_are_the_audit_columns() -> None:
    """Every audit field an event carries has its outbox column."""
    columns = {c.name for c in OUTBOX.c}
    assert {f.name for f in dataclasses.fields(Event)} - {"position"} <= columns


def test_the_outbox_migration_goes_both_ways(tmp_path: Path) -> None:
    """0005 adds the outbox tables to a 0002 database and removes them on downgrade."""
    from alembic import command
    from sqlalchemy import inspect

    from persistence.db import make_engine
    from persistence.migrate import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'migrate.db'}"
    config = alembic_config(url)
    command.upgrade(config, "0002")
    engine = make_engine(url)
    assert "outbox" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert {"outbox", "outbox_cursors"} <= set(inspect(engine).get_table_names())
    command.downgrade(config, "0002")
    assert not {"outbox", "outbox_cursors"} & set(inspect(engine).get_table_names())
    engine.dispose()
