"""The CLI loads the module of the command it runs, and no other command module."""

from __future__ import annotations

import subprocess
import sys

import pytest

from workflow.cli.application import COMMANDS, MODULES, app, command_of, load


def _registrations() -> dict[str, str]:
    """Each top-level command or group of the fully loaded app, and the module that made it."""
    load()
    found: dict[str, str] = {}
    for command in app.registered_commands:
        assert command.callback is not None
        name = command.name or command.callback.__name__.replace("_", "-")
        found[name] = command.callback.__module__
    for group in app.registered_groups:
        typer_app = group.typer_instance
        assert typer_app is not None
        assert group.name is not None
        callbacks = [c.callback for c in typer_app.registered_commands if c.callback is not None]
        if typer_app.registered_callback is not None:
            callbacks.append(typer_app.registered_callback.callback)
        found[group.name] = next(c.__module__ for c in callbacks if c is not None)
    return {name: module.rsplit(".", 1)[-1] for name, module in found.items()}


def test_the_command_table_names_the_module_registering_each_command() -> None:
    assert _registrations() == COMMANDS
    assert set(COMMANDS.values()) == set(MODULES)


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["stuck", "--summary"], "stuck"),
        (["--db", "sqlite:///x.db", "list", "--json"], "list"),
        (["--debug", "--key-file", "k", "show", "x"], "show"),
        (["--db", "stuck"], None),  # 'stuck' is the value of --db: there is no command
        (["--help", "stuck"], None),
        (["--version"], None),
        ([], None),
    ],
)  # fmt: skip
def test_the_command_is_the_first_word_past_the_global_options(
    args: list[str], command: str | None
) -> None:
    assert command_of(args) == command


_PROBE = """
import sys
from workflow.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(sorted(m.rsplit(".", 1)[-1] for m in sys.modules
             if m.startswith("workflow.cli.") and m.endswith("_commands")), file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("args", "modules"),
    [
        (["stuck", "--summary"], ["stuck_commands"]),
        (["list"], ["read_commands"]),
        (["export"], ["export_commands"]),
        (["validate", "-"], ["spec_commands"]),
        (["--version"], []),
    ],
)  # fmt: skip
def test_a_command_line_loads_only_its_command_module(
    tmp_path: object, args: list[str], modules: list[str]
) -> None:
    db = f"sqlite:///{tmp_path}/onboarding.db"
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, "--db", db, *args],
        capture_output=True, text=True, timeout=60, check=False, input="{}",
    )  # fmt: skip
    assert result.stderr.strip().splitlines()[-1] == repr(modules), result.stderr


def test_help_lists_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "workflow", "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    listed = {
        line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()
    }
    assert listed >= set(COMMANDS)
