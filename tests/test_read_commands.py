"""``list`` pages, ``export`` filters and streams, ``show``/``history`` speak the public JSON."""

from __future__ import annotations

import csv
import io
import json
import shlex
import subprocess
from datetime import timedelta
from typing import Any

import pytest

from tests.cli_process import ONBOARDING, environment, one_line_error, run
from tests.conftest import Harness
from workflow.core.spec import parse_spec
from workflow.management.public import (
    ONBOARDING as ONBOARDING_FIELDS,
    ONBOARDING_INTERNALS,
    TRANSITION,
)


def _cli(url: str, *args: str) -> str:
    result = run("--db", url, *args, env=environment())
    assert result.returncode == 0, result.stderr
    return result.stdout


def _lines(url: str, *args: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _cli(url, *args).splitlines()]


def _start(harness: Harness, samples: dict[str, Any], count: int) -> list[str]:
    ids = []
    for index in range(count):
        spec = json.loads(json.dumps(samples["demo-inherited"]))
        spec["key"] = f"page-{index}"
        ids.append(harness.start(spec))
        if index % 3 == 0:
            harness.clock.advance(1)  # some share a created_at: the id orders them
    return ids


def test_list_pages_follow_the_cursor_without_gaps_or_repeats(
    harness: Harness, database_url_for_test: str, samples: dict[str, Any]
) -> None:
    """--limit 3 pages, each continued with the last row's cursor, give every row once, in order."""
    _start(harness, samples, 8)
    everything = _lines(database_url_for_test, "list", "--json", "--limit", "0")
    assert len(everything) == 8
    assert everything == sorted(everything, key=lambda r: (r["created_at"], r["id"]))
    seen: list[str] = []
    after: list[str] = []
    while True:
        page = _lines(database_url_for_test, "list", "--json", "--limit", "3", *after)
        if not page:
            break
        assert len(page) <= 3
        seen += [r["id"] for r in page]
        after = ["--after", page[-1]["cursor"]]
    assert seen == [r["id"] for r in everything]
    table = _cli(database_url_for_test, "list", "--limit", "5")
    command = table.strip().splitlines()[-1]
    # The printed command is whole and short: the same page size, pasted as it is against the
    # same database (whatever form of URL named it: the URL is not repeated).
    assert command.startswith("more: onboarding list --limit 5 --after ")
    assert len(command) <= 80
    words = shlex.split(command.removeprefix("more: "))[1:]
    pasted = run("--db", database_url_for_test, *words, env=environment())
    assert pasted.returncode == 0, pasted.stderr
    assert pasted.stdout.count("page-") == 3
    assert "more:" not in pasted.stdout
    # The same page through each form of a PostgreSQL URL prints the same command.
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg://"):
        if "://" in database_url_for_test and database_url_for_test.startswith("postgres"):
            typed = prefix + database_url_for_test.split("://", 1)[1]
            assert _cli(typed, "list", "--limit", "5").strip().splitlines()[-1] == command


def test_list_refuses_a_cursor_it_did_not_print(database_url_for_test: str) -> None:
    """A mangled --after is a usage error naming the option."""
    result = run(
        "--db", database_url_for_test, "list", "--after", "not-a-cursor", env=environment()
    )
    line = one_line_error(result)
    assert result.returncode == 2
    assert "--after" in line
    assert "not a cursor" in line


def test_json_shows_internals_only_when_asked(
    harness: Harness, database_url_for_test: str, samples: dict[str, Any]
) -> None:
    """list, show and history carry schema_version 1, UTC times, and no lease or digest."""
    onboarding = harness.start(samples["demo-inherited"])
    [row] = _lines(database_url_for_test, "list", "--json")
    assert set(row) == {"schema_version", "kind", *ONBOARDING_FIELDS, "cursor"}
    assert row["schema_version"] == 1
    assert row["created_at"].endswith("+00:00")
    [inside] = _lines(database_url_for_test, "list", "--json", "--internals")
    assert set(inside) == {
        "schema_version",
        "kind",
        *ONBOARDING_FIELDS,
        *ONBOARDING_INTERNALS,
        "cursor",
    }
    [shown] = _lines(database_url_for_test, "show", onboarding, "--json")
    assert shown["spec"]["key"] == "demo-inherited"
    assert "fingerprint" not in shown
    assert "audit_head" not in shown
    [entry] = _lines(database_url_for_test, "history", "demo-inherited", "--json")
    assert set(entry) == {"schema_version", "kind", *TRANSITION}
    assert (
        "digest" in _lines(database_url_for_test, "history", onboarding, "--json", "--internals")[0]
    )


@pytest.fixture
def audited(harness: Harness, samples: dict[str, Any]) -> dict[str, Any]:
    """Three onboardings: one run through (with a rewind to pending: a second profile), one
    cancelled by 'alice' an hour later, one untouched."""
    from workflow.sandbox import OrganizationConfig

    harness.sandbox.state.organization = OrganizationConfig(completion_delay_seconds=0)
    first = harness.start(samples["demo-main-country"])
    harness.run_until(first, "complete")
    old_profile = harness.store.get(first).profile_id
    harness.ops.rewind(first, "pending", actor="bob", reason="new profile")
    harness.run()
    start = harness.clock.now()
    harness.clock.advance(3600)
    second = harness.start(samples["demo-inherited"])
    harness.ops.cancel(second, actor="alice", reason="abandoned")
    third = harness.start(samples["demo-no-channels"])
    return {
        "ids": (first, second, third), "old_profile": old_profile,
        "new_profile": harness.store.get(first).profile_id, "hour_later": start + timedelta(seconds=1800),
    }  # fmt: skip


def test_export_filters_by_time_actor_state_and_key(
    audited: dict[str, Any], database_url_for_test: str
) -> None:
    """Each filter narrows the stream to exactly the rows it names, in recorded order."""
    url = database_url_for_test
    first, second, third = audited["ids"]
    everything = _lines(url, "export")
    assert {r["kind"] for r in everything} == {"transition"}
    assert [r["onboarding_id"] for r in everything if r["seq"] == 1] == [first, second, third]
    later = audited["hour_later"].isoformat()
    assert {r["onboarding_id"] for r in _lines(url, "export", "--since", later)} == {second, third}
    assert {r["onboarding_id"] for r in _lines(url, "export", "--until", later)} == {first}
    by_alice = _lines(url, "export", "--actor", "alice")
    assert [(r["onboarding_id"], r["to_state"], r["reason"]) for r in by_alice] == [
        (second, "cancelled", "abandoned")
    ]
    assert {r["onboarding_id"] for r in _lines(url, "export", "--state", "pending")} == {
        first, second, third,
    }  # fmt: skip
    mine = _lines(url, "export", "--key", "demo-inherited", "--key", third)
    assert {r["onboarding_id"] for r in mine} == {second, third}
    assert len(mine) == len([r for r in everything if r["onboarding_id"] in (second, third)])


def test_each_exported_transition_carries_the_profile_id_of_its_moment(
    audited: dict[str, Any], database_url_for_test: str
) -> None:
    """Before a rewind to pending the old profile, after it the new one (JSON Lines and CSV)."""
    first = audited["ids"][0]
    rows = _lines(database_url_for_test, "export", "--key", first)
    profiles = [r["profile_id"] for r in rows]
    assert audited["old_profile"] != audited["new_profile"]
    known = [p for p in profiles if p is not None]
    assert known[0] == audited["old_profile"]
    assert known[-1] == audited["new_profile"]
    assert profiles.index(audited["new_profile"]) > profiles.index(audited["old_profile"])
    table = list(
        csv.DictReader(
            io.StringIO(_cli(database_url_for_test, "export", "--key", first, "--format", "csv"))
        )
    )
    assert [r["profile_id"] or None for r in table] == profiles
    assert list(table[0]) == list(TRANSITION)


def test_export_of_attempts_instead_of_transitions(
    audited: dict[str, Any], database_url_for_test: str
) -> None:
    """--attempts streams the HTTP attempts (filters by key and time); actor/state are refused."""
    first = audited["ids"][0]
    attempts = _lines(database_url_for_test, "export", "--attempts", "--key", first)
    assert attempts
    assert {a["kind"] for a in attempts} == {"attempt"}
    assert any(a["method"] == "POST" and a["path"] == "/v3/profiles" for a in attempts)
    assert (
        _lines(
            database_url_for_test,
            "export",
            "--attempts",
            "--since",
            audited["hour_later"].isoformat(),
        )
        == []
    )
    refused = run(
        "--db", database_url_for_test, "export", "--attempts", "--actor", "x", env=environment()
    )
    assert "--actor" in one_line_error(refused)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--since", "yesterday"], "--since"),
        (["--until", "2026-13-01"], "--until"),
        (["--since", "2026-05-02", "--until", "2026-05-01"], "--until"),
        (["--format", "xml"], "--format"),
        (["--key", "nobody"], "nobody"),
    ],
)
def test_export_refuses_bad_filters_in_one_line(
    database_url_for_test: str, args: list[str], named: str
) -> None:
    """A malformed time, an empty window, an unknown format or key: one line naming it."""
    line = one_line_error(run("--db", database_url_for_test, "export", *args, env=environment()))
    assert named in line


def test_history_is_json_lines_of_transitions_then_attempts(
    audited: dict[str, Any], database_url_for_test: str
) -> None:
    """history --json --attempts: every transition in order, then every attempt."""
    first = audited["ids"][0]
    rows = _lines(database_url_for_test, "history", first, "--json", "--attempts")
    kinds = [r["kind"] for r in rows]
    assert kinds == sorted(kinds, key=lambda k: k != "transition")
    seqs = [r["seq"] for r in rows if r["kind"] == "transition"]
    assert seqs == list(range(1, len(seqs) + 1))
    assert "attempt" in kinds


def test_a_reader_that_stops_early_ends_the_export_quietly(
    harness: Harness, database_url_for_test: str, samples: dict[str, Any]
) -> None:
    """export | head: when its reader goes away the export stops, exit 1, without a traceback."""
    specs = []
    for index in range(400):
        spec = json.loads(json.dumps(samples["demo-inherited"]))
        spec["key"] = f"many-{index}"
        specs.append(parse_spec(spec, today=harness.clock.now().date()))
    harness.ops.start_many(specs, actor="test")
    with subprocess.Popen(
        [str(ONBOARDING), "--db", database_url_for_test, "export"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment(),
    ) as child:  # fmt: skip
        assert child.stdout is not None
        assert child.stderr is not None
        assert json.loads(child.stdout.readline())["kind"] == "transition"
        child.stdout.close()
        assert child.wait(timeout=60) == 1
        assert child.stderr.read() == b""
