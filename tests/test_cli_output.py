"""Operator output: user text printed literally, tables readable in 80 columns, full in --json."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli_process import run
from tests.conftest import SAMPLES
from tests.populated import sample_run
from workflow.core.spec import load_documents
from workflow.sandbox import ServerThread


@dataclass
class Ran:
    """A database after a worker run: the sample paths, one paused by a Sent 400."""

    db: str
    env: dict[str, str]
    directory: Path

    def __call__(self, *args: str) -> str:
        result = run("--db", self.db, *args, env=self.env)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        return result.stdout


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory, samples_module: dict[str, dict[str, Any]]) -> Ran:
    """Every sample run once; 'demo-main-country' gets a non-retryable 400 from Sent."""
    tmp_path = tmp_path_factory.mktemp("output")
    box, env = sample_run()
    db = f"sqlite:///{tmp_path / 'onboarding.db'}"
    specs = tmp_path / "specs.yaml"
    specs.write_text(yaml.safe_dump(list(samples_module.values())))
    with ServerThread(box.app) as sent:
        # The installed script in its own process, end to end (the rest of the suite calls its
        # entry point in-process): these prove the console script and the worker process work.
        api = ["--api-url", sent.url, "--api-key", "sandbox-key"]
        assert run("--db", db, "db", "upgrade", env=env, process=True).returncode == 0
        assert run("--db", db, "start", str(specs), env=env, process=True).returncode == 0
        worked = run(
            "--db", db, *api, "worker", "--until-idle", "--poll-interval", "0.05", env=env,
            process=True,
        )  # fmt: skip
        assert worked.returncode == 0, worked.stderr
    box.close()
    return Ran(db, env, tmp_path)


@pytest.fixture(scope="module")
def samples_module() -> dict[str, dict[str, Any]]:
    """The demo samples, loaded once for the module's shared run."""
    return {doc["key"]: doc for doc in load_documents(SAMPLES)}  # type: ignore[index]


def _fits(output: str) -> None:
    assert output.strip(), "no output"
    for line in output.splitlines():
        assert len(line) <= 80, line
    assert "…" not in output


def test_history_prints_markup_in_a_reason_literally(
    ran: Ran, samples_module: dict[str, dict[str, Any]]
) -> None:
    """A reason with '[/]' and '[red]' is printed as typed: no crash, nothing swallowed."""
    reason = "[red]stop[/red] then [/] and [bold]"
    spec = json.loads(json.dumps(samples_module["demo-inherited"]))
    spec["key"] = "markup-reason"
    (ran.directory / "markup.yaml").write_text(yaml.safe_dump([spec]))
    ran("start", str(ran.directory / "markup.yaml"))
    ran("cancel", "markup-reason", "--reason", reason)
    output = ran("history", "markup-reason")
    for token in ("[red]stop[/red]", "[/]", "[bold]"):
        assert token in output
    _fits(output)
    lines = [json.loads(line) for line in ran("history", "markup-reason", "--json").splitlines()]
    entries = [line for line in lines if line["kind"] == "transition"]
    assert entries[-1]["reason"] == reason


def test_list_prints_sent_messages_literally(ran: Ran) -> None:
    """Sent's '[request req_…]' suffix in a pause reason survives rich rendering."""
    output = ran("list", "--state", "needs_attention")
    assert "demo-main-country" in output, output
    assert re.search(r"\[request\s", output), output
    rows = [json.loads(line) for line in ran("list", "--json").splitlines()]
    for row in rows:
        if row["state"] == "needs_attention":  # the whole reason, wrapped but not cut
            assert _squeezed(row["last_error"]["reason"]) in _squeezed(_last_column(output))


def _last_column(table: str) -> str:
    return "".join(line.rpartition("│")[2] for line in table.splitlines())


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize(
    "command",
    [
        ["list"],
        ["stuck"],
        ["history", "demo-prerequisite-pause", "--attempts"],
        ["history", "demo-own-brand-tcr", "--attempts"],
    ],
)
def test_tables_fit_80_columns_without_cutting_values(ran: Ran, command: list[str]) -> None:
    """At COLUMNS=80 no line is wider and no value ends in an ellipsis; states print whole."""
    output = ran(*command)
    _fits(output)
    if command[0] in ("list", "stuck"):
        assert "needs_attention" in output
    if command[0] == "history":
        assert "POST /v3/profiles" in output  # the attempts table has rows
        rows = [line for line in output.splitlines() if re.match(r"\s*\d+ │ \d", line)]
        assert len(rows) >= 3
        for line in rows:
            assert re.match(r"\s*\d+ │ \d\d-\d\d \d\d:\d\d:\d\d │", line), line


def test_json_keeps_full_values(ran: Ran) -> None:
    """--json gives the full ISO timestamps and ids the tables shorten or leave out."""
    rows = [json.loads(line) for line in ran("list", "--json").splitlines()]
    paused = next(r for r in rows if r["key"] == "demo-prerequisite-pause")
    assert len(paused["id"]) == 32
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*", paused["updated_at"])


def test_demo_fits_80_columns(tmp_path: Path) -> None:
    """At COLUMNS=80 the demo's table fits, and the notes it leaves out follow it in full."""
    result = run(
        "demo", "--db", str(tmp_path / "demo.db"), cwd=tmp_path, timeout=120, process=True
    )  # its own process: the demo serves a sandbox and runs a worker
    assert result.returncode == 0, result.stderr
    table = result.stdout[result.stdout.index("╭") : result.stdout.index("╰")]
    _fits(table)
    assert "demo-retried: 2 transient failure(s) retried" in result.stdout
    assert "demo-prerequisite-pause: PREREQUISITES" in result.stdout
