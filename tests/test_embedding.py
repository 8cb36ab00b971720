"""The embedding API: a worker that starts and stops, context managers, twin sync/async APIs."""

from __future__ import annotations

import asyncio
import inspect
import json
import pydoc
import threading
from typing import Any

import pytest
from sqlalchemy import text

from persistence import SqlStore
from tests.conftest import TEST_VAULT, Harness
from workflow import (
    AsyncOnboardings,
    EngineConfig,
    Event,
    HttpxSentApi,
    Onboardings,
    SpecConflictError,
    SpecError,
    Worker,
    parse_spec,
)
from workflow.sandbox import OrganizationConfig, Sandbox


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def test_sync_and_async_apis_have_the_same_methods_and_parameters() -> None:
    """Onboardings and AsyncOnboardings offer the same public methods with the same
    parameters; every async one but ``events`` and ``subscribe`` is a coroutine function."""
    sync, aio = public_methods(Onboardings), public_methods(AsyncOnboardings)
    assert sorted(sync) == sorted(aio)
    needed = {"start", "start_many", "find", "wait", "resume", "retry", "rewind", "cancel"}
    assert needed | {"amend", "events", "subscribe", "close"} <= set(sync)
    for name, signature in sync.items():
        assert list(aio[name].parameters.values()) == list(signature.parameters.values()), name
    awaitable = {n for n in aio if inspect.iscoroutinefunction(getattr(AsyncOnboardings, n))}
    assert awaitable == set(aio) - {"events", "subscribe"}
    assert inspect.signature(Onboardings.events).return_annotation == "Iterator[Event]"
    assert inspect.signature(AsyncOnboardings.events).return_annotation == "AsyncIterator[Event]"


def test_help_on_onboardings_stays_short() -> None:
    """help(Onboardings) shows the API, not the flow definition's whole repr."""
    text = pydoc.render_doc(Onboardings, renderer=pydoc.plaintext)
    assert "FlowDefinition(" not in text
    assert "flow: 'FlowDefinition | None' = None" in text
    assert len(text.splitlines()) < 400


def test_a_conflict_names_its_key_and_no_command(harness: Harness, samples: dict[str, Any]) -> None:
    """SpecConflictError tells a library caller what happened, carries the key, and names no
    CLI command."""
    harness.start(samples["demo-inherited"])
    changed = dict(samples["demo-inherited"], profile={**samples["demo-inherited"]["profile"]})
    changed["profile"]["description"] = "another description"
    spec = parse_spec(changed, today=harness.clock.now().date())
    with pytest.raises(SpecConflictError) as caught:
        harness.ops.start(spec)
    assert caught.value.key == "demo-inherited"
    assert "changed: profile.description" in str(caught.value)
    assert "onboarding " not in str(caught.value).replace("names onboarding", "")
    first = parse_spec(samples["demo-no-channels"], today=harness.clock.now().date())
    with pytest.raises(SpecConflictError) as together:
        harness.ops.start_many([first, spec, parse_spec(samples["demo-inherited"], today=_today())])
    assert together.value.key == "demo-inherited"


def test_parse_spec_reads_json_text_and_bytes(samples: dict[str, Any], today: Any) -> None:
    """A spec given as JSON text or UTF-8 bytes parses like the object; text that is not JSON
    is one problem saying why, with its line and column."""
    raw = samples["demo-inherited"]
    as_dict = parse_spec(raw, today=today)
    assert parse_spec(json.dumps(raw), today=today) == as_dict
    assert parse_spec(json.dumps(raw).encode(), today=today) == as_dict
    with pytest.raises(SpecError) as caught:
        parse_spec('{"key": "a",\n "profile": {', today=today, source="request")
    (problem,) = caught.value.problems
    assert problem.path == "spec"
    assert problem.message.startswith("not valid JSON: line 2, column 14:")
    assert caught.value.source == "request"
    with pytest.raises(SpecError, match="not valid JSON: duplicate key 'key'"):
        parse_spec('{"key": "a", "key": "b"}', today=today)
    with pytest.raises(SpecError, match=r"not valid JSON: it is not UTF-8 text \(byte 0\)"):
        parse_spec(b"\xff{}", today=today)
    with pytest.raises(SpecError, match="an onboarding spec must be an object"):
        parse_spec("[]", today=today)


def test_context_managers_close_what_they_opened(
    harness: Harness, database_url_for_test: str
) -> None:
    """Leaving ``with Onboardings`` stops its subscribers and ends its event loops; leaving
    ``async with AsyncOnboardings`` stops its subscribers; leaving ``with SqlStore`` closes
    its pooled connections."""
    with Onboardings(harness.store, TEST_VAULT) as onboardings:
        subscriber = onboardings.subscribe("cm", lambda event: None)
        assert not subscriber.stopping
    assert subscriber.stopping
    assert list(onboardings.events("cm-loop")) == []  # closed: the loop ends at once

    async def follow() -> Any:
        async with AsyncOnboardings(harness.store, TEST_VAULT) as service:
            return service.subscribe("cm-async", lambda event: None)

    assert asyncio.run(follow()).stopping
    with SqlStore.from_url(database_url_for_test) as store:
        assert store.count_active() == 0
        assert store.engine.pool.checkedin() >= 1
    assert store.engine.pool.checkedin() == 0


@pytest.fixture
def quick_sandbox(sandbox: Sandbox) -> Sandbox:
    sandbox.state.organization = OrganizationConfig(completion_delay_seconds=0.0)
    return sandbox


def test_a_worker_started_and_stopped_runs_onboardings_and_says_it_stopped(
    store: SqlStore, quick_sandbox: Sandbox, sandbox_url: str, samples: dict[str, Any]
) -> None:
    """``with Worker(...)`` runs onboardings in the background; leaving it drains and marks the
    worker stopped; stop() again does nothing; a stopped worker does not start again."""
    onboardings = Onboardings(store, TEST_VAULT)
    seen: list[Event] = []
    with HttpxSentApi(sandbox_url, "sandbox-key") as api:
        worker = Worker(store, api, TEST_VAULT, config=EngineConfig(), poll_interval=0.01)
        with worker, onboardings:
            onboardings.subscribe("cm-seen", seen.append, poll_interval=0.01)
            row = onboardings.start(parse_spec(samples["demo-inherited"], today=_today()))
            assert onboardings.wait(row.key, timeout=60).state == "completed"
            assert worker.start() is worker  # started already: nothing happens
        assert worker.in_flight() == 0
        assert [e.seq for e in seen] == list(range(1, len(seen) + 1))  # in order, none twice
        assert worker.stop() is True
        with pytest.raises(RuntimeError, match="was stopped; make a new Worker"):
            worker.start()
    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT id, stopped_at FROM workers")).all()
    assert [(r.id, r.stopped_at is not None) for r in rows] == [(worker.owner, True)]
    assert onboardings.find(row.id).key == row.key


def test_stop_from_another_thread_waits_for_the_first(
    store: SqlStore, quick_sandbox: Sandbox, sandbox_url: str
) -> None:
    """Two threads stopping one worker both return once it has stopped."""
    with HttpxSentApi(sandbox_url, "sandbox-key") as api:
        worker = Worker(store, api, TEST_VAULT, poll_interval=0.01).start()
        results: list[bool] = []
        threads = [threading.Thread(target=lambda: results.append(worker.stop())) for _ in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert results == [True, True]


def _today() -> Any:
    from datetime import date

    return date.today()
