"""Sent's rate limits, paced in the database for every worker, on an injected clock."""

from __future__ import annotations

import dataclasses
import itertools
import random
from datetime import timedelta
from typing import Any

import pytest

from persistence.db import make_engine
from persistence.store import SqlStore
from tests.conftest import TEST_VAULT, Harness, with_key
from workflow.adapters.sent_client import HttpxSentApi
from workflow.core.clock import FakeClock
from workflow.core.spec import OrganizationFacts, parse_spec
from workflow.engine.callbacks import create_callback_app
from workflow.engine.executor import EngineConfig
from workflow.engine.runner import Worker
from workflow.sandbox import FaultConfig, OrganizationConfig, Sandbox, ServerThread
from workflow.sandbox.faults import ScriptedFault


def test_slots_are_spaced_reserved_and_held_back_by_a_429(store: SqlStore) -> None:
    """10 a minute: one call now, then reserved slots 6 s apart; a slot is called when due; a
    429 holds the class back, so a slot reserved before it is given again after it."""
    now = FakeClock().now()
    at = [now + timedelta(seconds=s) for s in range(0, 61)]
    assert store.take_slot("complete", 10, at[0], None) is None
    assert store.take_slot("complete", 10, at[0], None) == at[6]
    assert store.take_slot("complete", 10, at[1], None) == at[12]
    assert store.take_slot("complete", 10, at[3], at[6]) == at[6]  # woken early: same slot
    assert store.take_slot("complete", 10, at[6], at[6]) is None  # due: called
    store.slow_down("complete", at[30])
    assert store.take_slot("complete", 10, at[12], at[12]) == at[30]
    assert store.take_slot("complete", 10, at[12], None) == at[36]
    assert store.take_slot("write", 10, at[12], None) is None  # other classes untouched


def test_waiting_for_a_slot_is_not_an_attempt_and_never_pauses(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Three onboardings reach /complete together at 10 a minute: they call it 6 s apart by
    the engine's clock, every one completes, none counts an attempt for waiting; while they
    wait, ``stuck`` and the metrics count them."""
    from workflow.following.metrics import PrometheusObserver

    harness.worker.executor.config = dataclasses.replace(
        harness.executor.config, rate_limits={"complete": 10}
    )
    ids = [harness.start(with_key(samples["demo-inherited"], f"paced-{n}")) for n in range(3)]
    for _ in range(20):
        harness.worker.tick()
        harness.worker.wait_in_flight()
    waiting = [harness.store.get(i) for i in ids if harness.store.get(i).rate_class]
    assert [(w.rate_class, w.attempts, w.state) for w in waiting] == [
        ("complete", 0, "campaigns")
    ] * 2
    assert harness.store.count_rate_waiting() == {"complete": 2}
    observer = PrometheusObserver(rate_waiting=harness.store.count_rate_waiting)
    assert (
        observer.registry.get_sample_value(
            "onboarding_waiting_for_rate_slot", {"endpoint_class": "complete"}
        )
        == 2.0
    )
    stuck = list(_stuck(harness, harness.clock.now()))
    assert sorted((s["cause"], s["code"]) for s in stuck) == [("rate_limited", "complete")] * 2
    harness.run()
    assert [harness.store.get(i).state for i in ids] == ["completed"] * 3
    sent = sorted(
        a.at for i in ids for a in harness.store.item_attempts(i, "request_completion", "complete")
    )
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(sent)] == [6.0, 6.0]
    assert harness.store.count_rate_waiting() == {}


def _stuck(harness: Harness, now: Any) -> list[dict[str, Any]]:
    from persistence.dbapi import Database, locate
    from persistence.reader import SqlReader, StuckQuery

    url = harness.store.engine.url.render_as_string(hide_password=False)
    with SqlReader(Database(locate(url))) as reader:
        query = StuckQuery(now=now, overdue_before=now, waiting_before=now)
        return list(reader.stuck(query))


def test_a_429_slows_the_whole_class(harness: Harness, samples: dict[str, Any]) -> None:
    """Sent answers 429 with Retry-After 30: no onboarding calls /complete before it ends, the
    one refused takes a slot after it, none pauses or counts an attempt."""
    harness.worker.executor.config = dataclasses.replace(
        harness.executor.config, rate_limits={"complete": 60}
    )
    harness.sandbox.faults.configure(
        FaultConfig(
            retry_after=30,
            scripted=[ScriptedFault(path_contains="/complete", status=429)],
        )
    )
    ids = [harness.start(with_key(samples["demo-inherited"], f"held-{n}")) for n in range(3)]
    harness.run()
    assert [harness.store.get(i).state for i in ids] == ["completed"] * 3
    attempts = sorted(
        (a for i in ids for a in harness.store.item_attempts(i, "request_completion", "complete")),
        key=lambda a: a.at,
    )
    assert [a.http_status for a in attempts] == [429, 202, 202, 202]
    assert all(a.attempt == 1 for a in attempts)
    assert (attempts[1].at - attempts[0].at).total_seconds() >= 30


def test_two_workers_on_postgres_stay_under_the_limit(
    store: SqlStore, samples: dict[str, Any]
) -> None:
    """Two workers (each its own engine and pool) on one PostgreSQL database, one clock: eight
    onboardings reach /complete together; Sent, limiting it to 2 a minute, never answers 429."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("two workers share one database on PostgreSQL")
    postgres_store = store
    clock = FakeClock()
    box = Sandbox(
        OrganizationConfig(completion_delay_seconds=0.0, complete_per_minute=2), clock=clock
    )
    url = postgres_store.engine.url.render_as_string(hide_password=False)
    stores = [SqlStore(make_engine(url)) for _ in range(2)]
    with (
        ServerThread(box.app) as server,
        ServerThread(create_callback_app(stores[0], TEST_VAULT, clock=clock)) as receiver,
    ):
        apis = [HttpxSentApi(server.url, "sandbox-key", timeout=5) for _ in stores]
        config = EngineConfig(
            callback_base_url=receiver.url, poll_interval=5, completion_timeout=3600,
            organization=OrganizationFacts(whatsapp_has_phone_number=True),
            rate_limits={"complete": 2},
        )  # fmt: skip
        workers = [
            Worker(s, a, TEST_VAULT, config=config, clock=clock, rng=random.Random(n),
                   concurrency=4, lease_seconds=600)
            for n, (s, a) in enumerate(zip(stores, apis, strict=True))
        ]  # fmt: skip
        from workflow.management.onboardings import Onboardings

        ops = Onboardings(stores[0], TEST_VAULT, clock=clock)
        ids = [
            ops.start(
                parse_spec(
                    with_key(samples["demo-inherited"], f"pg-{n}"), today=clock.now().date()
                ),
                actor="test",
            ).id
            for n in range(8)
        ]
        try:
            for _ in range(400):
                for worker in workers:
                    worker.tick()
                for worker in workers:
                    worker.wait_in_flight()
                if all(stores[0].get(i).finished_at is not None for i in ids):
                    break
                due = stores[0].next_due()
                if due is not None and due > clock.now():
                    clock.advance((due - clock.now()).total_seconds())
                else:
                    box.completer.flush()
        finally:
            for worker in workers:
                worker.close()
            for api in apis:
                api.close()
            box.close()
        assert [stores[0].get(i).state for i in ids] == ["completed"] * 8
        assert box.counts["complete rate_limited"] == 0
        assert box.counts["complete executed"] == 8
        owners = {
            a.at: stores[0].get(i).id
            for i in ids
            for a in stores[0].item_attempts(i, "request_completion", "complete")
        }
        assert len(owners) == 8  # eight distinct slots, 30 s apart
        for s in stores:
            s.engine.dispose()


def test_rate_limits_setting(capsys: pytest.CaptureFixture[str]) -> None:
    """``ONBOARDING_RATE_LIMITS``: /complete 10 a minute unless named; CLASS=0 turns it off; a
    wrong entry is refused in one line naming the variable and the rule."""
    import typer

    from workflow.cli.engine_settings import rate_limits

    assert rate_limits(None) == {"complete": 10}
    assert rate_limits("write=300, complete=0") == {"write": 300}
    assert rate_limits("complete=116/min") == {"complete": 116}
    with pytest.raises(typer.Exit):
        rate_limits("sends=5")
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ONBOARDING_RATE_LIMITS: 'sends=5' must be CLASS=N")
    assert len(error.splitlines()) == 1
