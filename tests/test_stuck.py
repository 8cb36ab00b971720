"""``onboarding stuck``: every cause found, grouped by code, with its age and fix, on each backend."""

from __future__ import annotations

import json
import os
import re
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.cli_process import environment, run
from tests.conftest import Harness
from workflow.clock import FakeClock
from workflow.management import Onboardings
from workflow.ports import WorkerPresence
from workflow.sandbox import FaultConfig, OrganizationConfig
from workflow.spec import parse_spec


@pytest.fixture
def clock() -> FakeClock:
    """An hour ago: what the harness does now is old by the time the CLI looks."""
    return FakeClock(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1))


def _cli(url: str, *args: str) -> str:
    result = run("--db", url, *args, env=environment())
    assert result.returncode == 0, result.stderr
    return result.stdout


def _stuck(url: str, *args: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _cli(url, "stuck", "--json", *args).splitlines()]


def _live_worker(harness: Harness) -> None:
    """A worker heartbeating right now (as a running 'onboarding worker' does)."""
    now = datetime.now(UTC)
    harness.store.record_worker(
        WorkerPresence(
            id="live-worker", host=socket.gethostname(), pid=os.getpid(), version="test",
            started_at=now, last_seen=now, concurrency=4, in_flight=0, heartbeat_seconds=5.0,
        )
    )  # fmt: skip


def _catch_up(harness: Harness) -> None:
    harness.clock.advance((datetime.now(UTC) - harness.clock.now()).total_seconds())


def _spec(raw: dict[str, Any], key: str) -> dict[str, Any]:
    spec = json.loads(json.dumps(raw))
    spec["key"] = key
    spec["profile"]["name"] = f"{spec['profile']['name']} {key}"
    return spec


def test_pending_onboardings_without_a_live_worker_are_overdue(
    harness: Harness, database_url_for_test: str, samples: dict[str, Any]
) -> None:
    """Started 10 minutes ago and no worker: listed as overdue with 'onboarding worker' as fix."""
    earlier = FakeClock(datetime.now(UTC) - timedelta(minutes=10))
    ops = Onboardings(harness.store, harness.vault, clock=earlier)
    for index in range(3):
        spec = _spec(samples["demo-inherited"], f"waiting-{index}")
        ops.start(parse_spec(spec, today=earlier.now().date()), actor="test")
    rows = _stuck(database_url_for_test)
    assert [(r["cause"], r["state"]) for r in rows] == [("overdue", "pending")] * 3
    assert all(r["fix"].startswith("onboarding worker") for r in rows)
    assert all("no worker is live" in r["reason"] for r in rows)
    assert all(540 <= r["age_seconds"] <= 3600 for r in rows)
    text = _cli(database_url_for_test, "stuck")
    assert "nothing is stuck" not in text
    assert "overdue: 3 onboarding(s), oldest 10m" in text
    _live_worker(harness)
    rows = _stuck(database_url_for_test)
    assert all("the live ones are behind" in r["fix"] for r in rows)
    assert _stuck(database_url_for_test, "--overdue-after", "20") == []


def test_cancelling_onboardings_are_runnable_and_reported(
    harness: Harness, database_url_for_test: str, samples: dict[str, Any]
) -> None:
    """A cancel that must delete at Sent (state cancelling) with nobody running it is overdue."""
    harness.sandbox.state.organization = OrganizationConfig(completion_delay_seconds=7200)
    onboarding = harness.start(samples["demo-inherited"])
    harness.run_until(onboarding, "complete")
    harness.ops.cancel(onboarding, actor="ops", reason="duplicate", delete_at_sent=True)
    assert harness.store.get(onboarding).state == "cancelling"
    rows = _stuck(database_url_for_test, "--state", "cancelling")
    assert [(r["key"], r["cause"], r["state"]) for r in rows] == [
        ("demo-inherited", "overdue", "cancelling")
    ]


def test_paused_onboardings_are_grouped_by_code_with_the_whole_reason(
    harness: Harness, database_url_for_test: str, samples: dict[str, Any]
) -> None:
    """Two pause codes make two groups; the reason is whole in JSON and wrapped, not cut, in tables."""
    harness.sandbox.state.organization = OrganizationConfig(
        has_whatsapp_account=False, completion_delay_seconds=0
    )
    refused = harness.start(samples["demo-inherited"])
    harness.run()
    harness.sandbox.state.organization = OrganizationConfig(completion_delay_seconds=0)
    unmet = harness.start(samples["demo-prerequisite-pause"])
    harness.run()
    rows = {r["id"]: r for r in _stuck(database_url_for_test)}
    assert set(rows) == {refused, unmet}
    assert {r["cause"] for r in rows.values()} == {"paused"}
    assert rows[refused]["code"] == "VALIDATION_001"
    assert rows[unmet]["code"] != rows[refused]["code"]
    for onboarding, row in rows.items():
        reason = harness.store.get(onboarding).last_error["reason"]  # type: ignore[index]
        assert row["reason"] == reason
        # Both are fixed in the spec: the per-key amend, then a resume.
        assert row["fix"].startswith(f"'onboarding amend {row['key']} FIXED.yaml --reason WHY'")
        assert 3000 <= row["age_seconds"] <= 7200
    long_reason = rows[refused]["reason"]
    assert len(long_reason) > 80
    table = _cli(database_url_for_test, "stuck")
    assert all(len(line) <= 80 for line in table.splitlines())
    assert "…" not in table.replace("… and", "")
    why = "".join(line.rpartition("│")[2] for line in table.splitlines())
    assert re.sub(r"\s+", "", long_reason) in re.sub(r"\s+", "", why)
    summary = [
        json.loads(line)
        for line in _cli(database_url_for_test, "stuck", "--summary", "--json").splitlines()
    ]
    assert sorted((g["cause"], g["code"], g["count"]) for g in summary) == sorted(
        ("paused", rows[o]["code"], 1) for o in rows
    )
    assert {g["code"]: g["fix"] for g in summary}["VALIDATION_001"].endswith(
        "for each ('onboarding stuck --code VALIDATION_001' lists them) (Sent refused a field "
        "of the spec, which 'show' names)"
    )
    text = _cli(database_url_for_test, "stuck", "--summary")
    assert "VALIDATION_001" in text
    assert "no live worker" in text


def test_retrying_onboardings_show_their_attempts_and_next_try(
    harness: Harness, database_url_for_test: str, samples: dict[str, Any]
) -> None:
    """A step failing with 503 is 'retrying' with its try count, error code and next try."""
    _catch_up(harness)
    harness.sandbox.faults.configure(FaultConfig(error_rates={503: 1.0}))
    onboarding = harness.start(samples["demo-inherited"])
    harness.worker.tick()
    harness.worker.wait_in_flight()
    _live_worker(harness)
    [row] = _stuck(database_url_for_test)
    saved = harness.store.get(onboarding)
    assert (row["cause"], row["attempts"]) == ("retrying", 1)
    assert row["code"] == saved.last_error["code"]  # type: ignore[index]
    assert row["next_attempt_at"] == saved.next_attempt_at.isoformat()  # type: ignore[union-attr]
    assert row["reason"].startswith("try 1 failed")
    assert row["fix"].startswith("onboarding retry demo-inherited")


def test_an_expired_lease_is_reported_and_its_owner_only_with_internals(
    harness: Harness, database_url_for_test: str, samples: dict[str, Any]
) -> None:
    """An onboarding claimed by a worker that vanished shows as lease_expired."""
    onboarding = harness.start(samples["demo-inherited"])
    assert harness.store.claim("vanished-worker", harness.clock.now(), 60, 10)
    [row] = _stuck(database_url_for_test)
    assert (row["id"], row["cause"]) == (onboarding, "lease_expired")
    assert "lease_owner" not in row
    assert "lease expired" in row["reason"]
    [inside] = _stuck(database_url_for_test, "--internals")
    assert inside["lease_owner"] == "vanished-worker"
    assert inside["lease_expires_at"].endswith("+00:00")


def test_a_long_wait_for_the_completion_result_is_reported(
    harness: Harness, database_url_for_test: str, samples: dict[str, Any]
) -> None:
    """In 'complete' for an hour (polled, never concluded): 'waiting', aged from its entry."""
    harness.sandbox.state.organization = OrganizationConfig(completion_delay_seconds=7200)
    onboarding = harness.start(samples["demo-inherited"])
    harness.run_until(onboarding, "complete")
    entered = harness.store.history(onboarding)[-1].at
    _catch_up(harness)
    harness.force(onboarding, next_attempt_at=datetime.now(UTC) + timedelta(minutes=1))
    _live_worker(harness)
    [row] = _stuck(database_url_for_test)
    assert (row["cause"], row["state"]) == ("waiting", "complete")
    assert row["since"] == entered.isoformat()
    assert row["age_seconds"] >= 3500
    assert _stuck(database_url_for_test, "--waiting-after", "120") == []


def test_nothing_stuck_says_so(database_url_for_test: str) -> None:
    """An empty database: one line, no table; JSON Lines print nothing."""
    assert _cli(database_url_for_test, "stuck").startswith("nothing is stuck")
    assert _stuck(database_url_for_test) == []


def test_codes_filter_stuck_and_list_in_any_case_and_unknown_codes_are_refused(
    harness: Harness, database_url_for_test: str, samples: dict[str, Any]
) -> None:
    """--code narrows stuck and list (read in any case); an unknown code exits 2 with one line
    listing the known ones; list also filters by key prefix and age; show and history find an
    onboarding by Sent's profile id."""
    from tests.cli_process import one_line_error

    harness.sandbox.state.organization = OrganizationConfig(
        has_whatsapp_account=False, completion_delay_seconds=0
    )
    refused = harness.start(_spec(samples["demo-inherited"], "refused-1"))
    harness.run()
    harness.sandbox.state.organization = OrganizationConfig(completion_delay_seconds=0)
    unmet = harness.start(_spec(samples["demo-prerequisite-pause"], "unmet-1"))
    harness.run()
    url = database_url_for_test
    assert [r["id"] for r in _stuck(url, "--code", "prerequisites")] == [unmet]
    summary = _cli(url, "stuck", "--summary", "--code", "Validation_001")
    assert "VALIDATION_001" in summary
    assert "PREREQUISITES" not in summary
    for command in (["stuck"], ["list"], ["resume", "--reason", "r", "--dry-run"]):
        result = run("--db", url, *command, "--code", "NO_SUCH", env=environment())
        assert result.returncode == 2, (command, result.stdout)
        line = one_line_error(result)
        assert "'NO_SUCH' is not a pause code; codes are COMMIT_FAILED" in line
    listed = _cli(url, "list", "--json", "--code", "prerequisites")
    assert [json.loads(line)["id"] for line in listed.splitlines()] == [unmet]
    listed = _cli(url, "list", "--json", "--key-prefix", "refused-")
    assert [json.loads(line)["id"] for line in listed.splitlines()] == [refused]
    assert _cli(url, "list", "--json", "--older-than", "2h") == ""
    assert len(_cli(url, "list", "--json", "--older-than", "30m").splitlines()) == 2
    dry = _cli(url, "resume", "--code", "prerequisites", "--reason", "r", "--dry-run")
    assert "1 onboarding(s) selected for resume" in dry
    profile = harness.store.get(unmet).profile_id
    assert profile is not None
    shown = json.loads(_cli(url, "show", "--json", profile))
    assert shown["id"] == unmet
    assert json.loads(_cli(url, "history", "--json", profile).splitlines()[0])["onboarding_id"]
