"""Bulk operator actions through the ``onboarding`` command, run as operators run it."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from persistence.db import make_engine
from persistence.migrate import upgrade
from tests.cli_process import ONBOARDING, environment, one_line_error, run
from tests.conftest import TEST_KEY, Fleet, Harness, with_key
from workflow.cli import app

BATCH = re.compile(r"batch ([0-9a-f]{32}): (\w+) (\d+) of (\d+)")


#: Operator actions write the audit log: they need the key the test databases are anchored with.
KEYED = environment(ONBOARDING_SECRET_KEY=TEST_KEY.decode())


def onboarding(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the command line with no terminal on stdin (as cron or a pipeline would)."""
    return run(*args, env=KEYED, timeout=120)


def interactive(args: list[str], answer: str, meanwhile: Callable[[], None]) -> tuple[int, str]:
    """Run the console script on a pseudo-terminal; when it asks, run ``meanwhile``, answer."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [str(ONBOARDING), *args], stdin=slave, stdout=slave, stderr=slave, env=KEYED,
        close_fds=True,
    )  # fmt: skip
    os.close(slave)
    output = b""
    deadline = time.monotonic() + 120

    def read(until: bytes | None) -> None:
        nonlocal output
        while until is None or until not in output:
            remaining = deadline - time.monotonic()
            assert remaining > 0, output.decode(errors="replace")
            ready, _, _ = select.select([master], [], [], remaining)
            if not ready:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            if not chunk:
                assert until is None, output.decode(errors="replace")
                return
            output += chunk

    try:
        read(b"[y/N]")
        meanwhile()
        os.write(master, answer.encode() + b"\n")
        read(None)
        code = process.wait(timeout=60)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    return code, output.decode().replace("\r\n", "\n")


def _snapshot(harness: Harness, ids: list[str]) -> dict[str, tuple[int, int]]:
    return {i: (harness.store.get(i).version, len(harness.store.history(i))) for i in ids}


def test_cli_dry_run_lists_the_matches_and_changes_nothing(
    harness: Harness, fleet: Fleet, database_url_for_test: str
) -> None:
    """'resume --code COMPLETION_TIMEOUT --dry-run' lists exactly those three, exits 0, changes nothing."""
    before = _snapshot(harness, fleet.all)
    result = onboarding(
        "--db", database_url_for_test, "resume", "--code", "COMPLETION_TIMEOUT",
        "--reason", "Sent finished late", "--dry-run",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "3 onboarding(s) selected for resume" in result.stdout
    assert sorted(re.findall(r"late-\d", result.stdout)) == ["late-0", "late-1", "late-2"]
    assert "unmet-0" not in result.stdout
    assert "fresh-0" not in result.stdout
    assert result.stdout.count("COMPLETION_TIMEOUT") == 3
    assert "dry run: nothing was changed" in result.stdout
    assert _snapshot(harness, fleet.all) == before


def test_cli_bulk_resume_audits_each_with_the_printed_batch_id(
    harness: Harness, fleet: Fleet, database_url_for_test: str
) -> None:
    """With --yes every match is resumed; each audit row carries the one batch id printed."""
    result = onboarding(
        "--db", database_url_for_test, "resume", "--code", "COMPLETION_TIMEOUT",
        "--reason", "Sent finished late", "--actor", "carol", "--yes",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    match = BATCH.search(result.stdout)
    assert match is not None, result.stdout
    assert match.group(2, 3, 4) == ("resumed", "3", "3")
    for onboarding_id in fleet.timeouts:
        last = harness.store.history(onboarding_id)[-1]
        assert (last.trigger, last.actor, last.batch_id) == ("resume", "carol", match.group(1))
    assert harness.store.get(fleet.prerequisites).state == "needs_attention"


def test_each_bulk_action_is_listed_as_a_batch_and_exported_by_its_id(
    harness: Harness, fleet: Fleet, database_url_for_test: str
) -> None:
    """A bulk resume (its code typed in lower case) is a batch: who, why, the selection as
    typed, matched/changed/skipped; 'export --batch' gives its audit rows and no other; a dry
    run is no batch; an unknown batch id exits 2."""
    import json

    url = database_url_for_test
    assert onboarding("--db", url, "batches").stdout.startswith("no bulk action")
    dry = onboarding(
        "--db", url, "retry", "--key-prefix", "fresh-", "--reason", "look", "--dry-run"
    )
    assert dry.returncode == 0, dry.stderr
    result = onboarding(
        "--db", url, "resume", "--code", "completion_timeout", "--key-prefix", "late-",
        "--reason", "Sent finished late", "--actor", "carol", "--yes",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    match = BATCH.search(result.stdout)
    assert match is not None, result.stdout
    listed = [
        json.loads(line)
        for line in onboarding("--db", url, "batches", "--json").stdout.splitlines()
    ]
    assert len(listed) == 1
    (batch,) = listed
    assert batch["id"] == match.group(1)
    assert (batch["actor"], batch["reason"], batch["action"]) == (
        "carol",
        "Sent finished late",
        "resume",
    )
    assert batch["selection"] == "--code completion_timeout --key-prefix late-"
    assert (batch["matched"], batch["changed"], batch["skipped"]) == (3, 3, 0)
    assert batch["finished_at"] >= batch["started_at"]
    text = onboarding("--db", url, "batches").stdout
    assert match.group(1) in text
    assert all(len(line) <= 80 for line in text.splitlines())
    exported = onboarding("--db", url, "export", "--batch", match.group(1))
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert sorted(r["onboarding_id"] for r in rows) == sorted(fleet.timeouts)
    assert {r["batch_id"] for r in rows} == {match.group(1)}
    unknown = onboarding("--db", url, "export", "--batch", "f" * 32)
    assert unknown.returncode == 2
    assert "no batch" in one_line_error(unknown)


def test_cli_preview_shows_twenty_rows_and_counts_the_rest(
    harness: Harness, samples: dict[str, Any], database_url_for_test: str
) -> None:
    """23 matches: the first 20 rows, then '... and 3 more'."""
    for n in range(23):
        harness.start(with_key(samples["demo-inherited"], f"many-{n:02d}"))
    result = onboarding(
        "--db", database_url_for_test, "cancel", "--key-prefix", "many-", "--where",
        "state=pending", "--reason", "cleanup", "--dry-run",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "23 onboarding(s) selected for cancel" in result.stdout
    assert len(re.findall(r"many-\d\d", result.stdout)) == 20
    assert "... and 3 more" in result.stdout


def test_cli_asks_first_and_lists_what_changed_meanwhile(
    harness: Harness, fleet: Fleet, database_url_for_test: str
) -> None:
    """At the prompt someone cancels one; 'y' resumes the others and names the skipped one (exit 3)."""
    cancelled = fleet.timeouts[0]

    def meanwhile() -> None:
        assert harness.store.get(cancelled).state == "needs_attention"  # nothing changed yet
        harness.ops.cancel(cancelled, actor="bob", reason="customer left")

    code, output = interactive(
        ["--db", database_url_for_test, "resume", "--code", "COMPLETION_TIMEOUT", "--reason",
         "Sent finished late"],
        "y", meanwhile,
    )  # fmt: skip
    assert code == 3, output
    assert "resume these 3 onboarding(s) (batch " in output
    match = BATCH.search(output)
    assert match is not None, output
    assert match.group(2, 3, 4) == ("resumed", "2", "3")
    assert f"late-0 ({cancelled}): 'onboarding resume' does not apply" in output
    assert "it is cancelled" in output
    assert [harness.store.history(o)[-1].batch_id for o in fleet.timeouts] == [
        None, match.group(1), match.group(1),
    ]  # fmt: skip


def test_cli_declined_prompt_changes_nothing(
    harness: Harness, fleet: Fleet, database_url_for_test: str
) -> None:
    """Answering no (the default) exits 1 and changes nothing."""
    before = _snapshot(harness, fleet.all)
    code, output = interactive(
        ["--db", database_url_for_test, "cancel", "--where", "state=needs_attention",
         "--reason", "cleanup"],
        "", lambda: None,
    )  # fmt: skip
    assert code == 1, output
    assert "4 onboarding(s) selected for cancel" in output
    assert "not confirmed: nothing was changed" in output
    assert _snapshot(harness, fleet.all) == before


def test_cli_without_a_terminal_asks_for_yes(
    harness: Harness, fleet: Fleet, database_url_for_test: str
) -> None:
    """No terminal on stdin and no --yes: one line saying to pass --yes; nothing changes."""
    before = _snapshot(harness, fleet.all)
    result = onboarding(
        "--db", database_url_for_test, "retry", "--where", "state=needs_attention",
        "--reason", "again",
    )  # fmt: skip
    line = one_line_error(result)
    assert "pass --yes" in line
    assert result.stdout == ""
    assert _snapshot(harness, fleet.all) == before


@pytest.fixture
def empty_db(tmp_path: Path) -> str:
    """A migrated, empty SQLite file."""
    url = f"sqlite:///{tmp_path / 'onboarding.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["resume"], "name an onboarding (id or key) or select with --where KEY=VALUE, --code"),
        (["resume", "acme-1", "--code", "X"], "give one onboarding or selection options, not both"),
        (["resume", "--where", "colour=red"], "--where 'colour' is not a filter key"),
        (["resume", "--where", "state"], "--where 'state' is not key=value"),
        (["cancel", "--where", "state=paused"], "unknown state; state is one of pending"),
        (["retry", "--older-than", "2x"], "--older-than '2x' is not a duration"),
        (["retry", "--code", ""], "--code is empty"),
        (["rewind", "--to", "nowhere", "--code", "REJECTED"], "--to must be one of: pending"),
        (["retry", "--code", "nope"], "--code 'nope' is not a pause code; codes are COMMIT_FAILED"),
        (["resume", "acme-1", "--dry-run"], "--dry-run previews a selection"),
    ],
)
def test_cli_selection_errors_are_one_line(empty_db: str, args: list[str], words: str) -> None:
    """Each malformed selection exits 2 with one line naming the option and the rule."""
    result = onboarding("--db", empty_db, *args, "--reason", "r")
    line = one_line_error(result)
    assert result.returncode == 2
    assert words in line


def test_cli_nothing_matching_is_said_and_exits_0(empty_db: str) -> None:
    """A selection with no match says so and exits 0."""
    result = onboarding("--db", empty_db, "resume", "--code", "REJECTED", "--reason", "r", "--yes")
    assert result.returncode == 0, result.stderr
    assert "no onboarding matches code=REJECTED that 'resume' applies to" in result.stdout


def test_help_documents_selection_exit_codes_and_amend_scope() -> None:
    """The actions' help names the selection options and exit 3; amend's says one onboarding only."""
    runner = CliRunner()
    resume = runner.invoke(app, ["resume", "--help"], env={"COLUMNS": "200"})
    for words in ("--where", "--code", "--older-than", "--key-prefix", "--worker", "--dry-run",
                  "--yes", "3: some skipped"):  # fmt: skip
        assert words in resume.output, words
    amend = runner.invoke(app, ["amend", "--help"], env={"COLUMNS": "200"})
    assert "One onboarding only" in amend.output
