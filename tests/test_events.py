"""Following onboardings: subscribers, the async iterator, wait, and the asyncio twin."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Harness
from workflow import AsyncOnboardings, Event, Subscriber
from workflow.spec import parse_spec


def eventually(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait until ``condition()`` holds (polling), or fail."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def outbox_size(h: Harness) -> int:
    """Events written, once every one of them is readable.

    On PostgreSQL an event becomes readable when no transaction on the server that started
    before it is still open (other databases' included): wait for that, never for a fixed time.
    """
    total = h.store.count_events()
    deadline = time.monotonic() + 10
    while len(h.store.read_events("readability-probe", total, h.clock.now())) < total:
        assert time.monotonic() < deadline, "events never became readable"
        time.sleep(0.01)
    h.store.drop_subscriber("readability-probe")
    return total


def check_run(h: Harness, ids: list[str], received: list[Event]) -> None:
    """Each onboarding's transitions arrived exactly once, in order, as the audit log has them."""
    assert len({e.event_id for e in received}) == len(received), "no event twice"
    for onboarding_id in ids:
        mine = [
            (e.seq, e.trigger, e.to_state) for e in received if e.onboarding_id == onboarding_id
        ]
        history = h.store.history(onboarding_id)
        assert mine == [(r.seq, r.trigger, r.to_state) for r in history]


def test_subscribers_each_receive_every_transition_once_in_order(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Two subscribers, one whose handler fails at first, each get every event of a run once,
    in per-onboarding order, while the run goes on."""
    calm: list[Event] = []
    flaky: list[Event] = []
    failures = {"left": 3, "offered": 0}
    lock = threading.Lock()

    def flaky_handler(event: Event) -> None:
        with lock:
            failures["offered"] += 1
            if failures["left"]:
                failures["left"] -= 1
                raise RuntimeError("receiver down")
        flaky.append(event)

    options = {"poll_interval": 0.01, "backoff_initial": 0.01, "backoff_cap": 0.05}
    with (
        harness.ops.subscribe("calm", calm.append, **options),
        Subscriber(harness.store, "flaky", flaky_handler, batch_size=4, **options) as second,
    ):
        ids = [harness.start(raw) for raw in samples.values()]
        harness.run()
        total = outbox_size(harness)
        eventually(lambda: len(calm) == total and len(flaky) == total)
    check_run(harness, ids, calm)
    check_run(harness, ids, flaky)
    assert failures["offered"] == total + 3  # each failure offered the same event again
    assert second.delivered == total
    assert {p.name: (p.delivered, p.pending) for p in harness.store.subscribers()} == {
        "calm": (total, 0),
        "flaky": (total, 0),
    }


def test_a_subscriber_goes_on_where_it_stopped(harness: Harness, samples: dict[str, Any]) -> None:
    """A subscriber restarted under the same name gets only the events it had not handled."""
    first: list[Event] = []
    harness.start(samples["demo-inherited"])
    with Subscriber(harness.store, "app", first.append, poll_interval=0.01):
        eventually(lambda: len(first) == 1)
    onboarding_id = harness.start(samples["demo-own-brand-tcr"])
    harness.run()
    later: list[Event] = []
    with Subscriber(harness.store, "app", later.append, poll_interval=0.01):
        eventually(lambda: len(first) + len(later) == outbox_size(harness))
    assert [(e.key, e.trigger) for e in first] == [("demo-inherited", "start")]
    assert {e.event_id for e in first}.isdisjoint(e.event_id for e in later)
    assert len({e.event_id for e in later}) == len(later)
    assert {e.onboarding_id for e in later if e.trigger == "start"} == {onboarding_id}


def test_subscriber_names_are_checked(harness: Harness) -> None:
    """A bad subscriber name is refused with the rule it breaks."""
    with pytest.raises(ValueError, match="subscriber name '' is not valid"):
        Subscriber(harness.store, "", lambda e: None)
    with pytest.raises(ValueError, match="1 to 128"):
        harness.ops.subscribe("x" * 129, lambda e: None)


def counts(h: Harness, name: str) -> tuple[int, int]:
    """(delivered, pending) of subscriber ``name``, as ``events subscribers`` shows them."""
    (position,) = [p for p in h.store.subscribers() if p.name == name]
    return position.delivered, position.pending


def test_async_iteration_records_progress_per_event(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """``async for`` yields every event in order and records each one the loop body finished
    with: after a failure or a ``break`` only the event the loop left on comes again, and
    ``events subscribers`` counts every other one delivered."""
    ids = [harness.start(raw) for raw in list(samples.values())[:3]]
    harness.run()
    total = outbox_size(harness)
    service = AsyncOnboardings(harness.store, harness.vault, clock=harness.clock)

    async def collect(got: list[Event], stop_at: int, fail_at: int | None = None) -> None:
        async for event in service.events("feed", poll_interval=0.01, batch_size=total):
            if len(got) == fail_at:
                raise RuntimeError("handler failed")
            got.append(event)
            if len(got) == stop_at:
                break

    first: list[Event] = []
    with pytest.raises(RuntimeError):
        asyncio.run(collect(first, total, fail_at=5))
    assert counts(harness, "feed") == (5, total - 5)
    rest: list[Event] = []
    asyncio.run(collect(rest, total - 5))  # from the event the loop failed on
    check_run(harness, ids, first + rest)
    assert counts(harness, "feed") == (total - 1, 1)  # it left with break on the last one
    again: list[Event] = []
    asyncio.run(collect(again, 1))
    assert again[0].event_id == rest[-1].event_id


def test_the_blocking_iteration_records_progress_per_event(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """``for event in onboardings.events(name)`` delivers every event in order once across
    restarts, recording each handled event; ``close()`` ends a loop waiting for more."""
    ids = [harness.start(raw) for raw in list(samples.values())[:3]]
    harness.run()
    total = outbox_size(harness)
    received: list[Event] = []
    for event in harness.ops.events("feed", poll_interval=0.01, batch_size=4):
        received.append(event)
        if len(received) == 7:
            break
    assert counts(harness, "feed") == (6, total - 6)
    received.pop()  # the event the loop broke on was not finished with: it comes again
    with harness.ops:
        waiting = threading.Thread(
            target=lambda: received.extend(harness.ops.events("feed", poll_interval=0.01))
        )
        waiting.start()
        eventually(lambda: len(received) == total)
    waiting.join(10)
    assert not waiting.is_alive()
    check_run(harness, ids, received)
    assert counts(harness, "feed") == (total, 0)


def test_wait_returns_when_terminal_or_paused_and_times_out_otherwise(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """wait() returns the final checkpoint of a finished or paused onboarding; a still-moving
    one raises TimeoutError naming it."""
    done = harness.start(samples["demo-inherited"])
    paused = harness.start(samples["demo-prerequisite-pause"])
    with pytest.raises(TimeoutError, match=r"'demo-inherited' .* is still pending after 0\.1s"):
        harness.ops.wait(done, timeout=0.1)
    runner = threading.Thread(target=harness.run)
    runner.start()
    try:
        assert harness.ops.wait("demo-inherited", timeout=30).state == "completed"
        assert harness.ops.wait(paused, timeout=30).state == "needs_attention"
    finally:
        runner.join()


def test_the_asyncio_twin_starts_waits_and_follows(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """AsyncOnboardings starts an onboarding, waits for its outcome and follows its events."""
    service = AsyncOnboardings(harness.store, harness.vault, clock=harness.clock)
    spec = parse_spec(samples["demo-own-brand-tcr"], today=harness.clock.now().date())

    async def main() -> tuple[Any, list[Event]]:
        row = await service.start(spec)
        runner = asyncio.create_task(asyncio.to_thread(harness.run))
        final = await service.wait(row.key, timeout=30)
        await runner
        events: list[Event] = []
        async for event in service.events("service", poll_interval=0.01):
            events.append(event)
            if event.seq == final.audit_seq:
                break
        with pytest.raises(TimeoutError):
            await service.wait(harness.start(samples["demo-inherited"]), timeout=0.05)
        return final, events

    final, events = asyncio.run(main())
    assert final.state == "submitted"
    assert [e.to_state for e in events][-1] == "submitted"
    assert [e.seq for e in events] == list(range(1, final.audit_seq + 1))
