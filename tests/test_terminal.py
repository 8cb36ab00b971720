"""The command line at 80 columns: help that never cuts an option or variable name, normal
output within 80 columns, ``--version``, shell completion."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest
import typer

from tests.cli_process import ONBOARDING, environment, run
from tests.populated import Database
from workflow.cli import app

NARROW = {"COLUMNS": "80", "LINES": "50"}


def _commands() -> list[tuple[list[str], Any]]:
    """Every command path (groups included) with its click command."""
    found: list[tuple[list[str], Any]] = []

    def walk(command: Any, path: list[str]) -> None:
        found.append((path, command))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


@pytest.mark.parametrize(
    ("path", "command"),
    [pytest.param(p, c, id=" ".join(p) or "onboarding") for p, c in _commands()],
)
def test_help_at_80_columns_keeps_every_name_whole(path: list[str], command: Any) -> None:
    """Each --help fits 80 columns, cuts nothing ('…'), and shows every option name and
    environment variable whole on one line."""
    result = run(*path, "--help", env=environment(**NARROW))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    words = {word for line in text.splitlines() for word in line.replace("/", " ").split()}
    for parameter in command.params:
        for name in [*parameter.opts, *parameter.secondary_opts]:
            if name.startswith("--"):
                assert name in words, (path, name)
        envvar = getattr(parameter, "envvar", None)
        if isinstance(envvar, str):
            assert any(envvar in word for word in words), (path, envvar)


def test_help_wraps_between_sentences_not_at_the_docstring_lines() -> None:
    """A docstring's paragraph is wrapped as one text (amend's used to break mid-sentence)."""
    text = run("amend", "--help", env=environment(**NARROW)).stdout
    assert "so amend takes no selection" in " ".join(text.split())
    assert "amend  takes" not in text
    for line in text.splitlines():
        assert not line.rstrip().endswith(" no") or "takes no" in line


READS = [
    ["list"],
    ["list", "--limit", "3"],
    ["list", "--state", "needs_attention"],
    ["stuck"],
    ["stuck", "--summary"],
    ["stuck", "--overdue-after", "0"],
    ["workers"],
    ["batches"],
    ["audit", "verify"],
    ["events", "subscribers"],
]


def test_every_read_command_fits_80_columns(database: Database) -> None:
    """list, show and history of every onboarding, stuck, workers, batches, audit: no line of
    normal output is wider than 80 columns."""
    keys = [line["key"] for line in database.lines("list", "--json")]
    commands = [*READS]
    for key in keys:
        commands += [["show", key], ["history", key, "--attempts"]]
    for words in commands:
        result = run("--db", database.url, *words, env={**database.env, **NARROW})
        assert result.returncode == 0, (words, result.stderr)
        lines = result.stdout.splitlines()
        assert lines, words
        widest = max(lines, key=len)
        assert len(widest) <= 80, (words, widest)


def test_show_lays_the_spec_out_as_yaml_and_the_error_as_lines(database: Database) -> None:
    """show prints the spec as indented YAML and last_error field by field, not one-line JSON."""
    paused = next(
        line["key"]
        for line in database.lines("list", "--json")
        if line["state"] == "needs_attention" and line["last_error"]
    )
    text = run("--db", database.url, "show", paused, env={**database.env, **NARROW}).stdout
    assert "spec:\n  key: " in text
    assert "\n  profile:\n    name: " in text
    assert "last_error:\n" in text
    assert '{"' not in text
    assert "\nfix: " in text


def test_version_is_printed() -> None:
    """--version prints the installed version and exits 0 (the installed script, in its own
    process: the console script's entry point works)."""
    from importlib.metadata import version

    result = run("--version", env=environment(), process=True)
    assert result.returncode == 0
    assert result.stdout.strip() == f"onboarding (sent-onboarding) {version('sent-onboarding')}"


def test_shell_completion_is_installable_and_completes() -> None:
    """--show-completion prints a bash script naming the completion function; the protocol it
    uses completes commands and options."""
    env = environment(SHELL="/bin/bash")
    # The shell is found from the parent processes, as for a person typing it in bash.
    script = subprocess.run(
        ["bash", "-c", f"{ONBOARDING} --show-completion && true"], capture_output=True, text=True,
        env=env, check=False, timeout=60,
    )  # fmt: skip
    assert script.returncode == 0, script.stderr
    assert "_onboarding_completion" in script.stdout
    assert "complete " in script.stdout

    def complete(words: str, index: int) -> list[str]:
        done = subprocess.run(
            [str(ONBOARDING)], capture_output=True, text=True, check=False, timeout=60,
            env={**env, "_ONBOARDING_COMPLETE": "complete_bash", "COMP_WORDS": words,
                 "COMP_CWORD": str(index)},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert "list" in complete("onboarding li", 1)
    assert complete("onboarding stuck --co", 2) == ["--code"]
    assert os.path.basename(str(ONBOARDING)) == "onboarding"
