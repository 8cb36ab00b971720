"""The ``onboarding`` Typer application, and which module registers each of its commands.

The command modules register themselves on :data:`app` when imported. :func:`load` imports
only the module a command line names (``onboarding stuck …`` loads the stuck commands, not the
console, the sandbox or the worker), so a command starts in the time its own imports take;
help, completion and anything unknown load every module, in :data:`MODULES` order (the order
``--help`` lists them in).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Final

import typer

__all__ = ["COMMANDS", "GLOBAL_OPTIONS", "MODULES", "app", "command_of", "load"]

app = typer.Typer(
    name="onboarding",
    help="Durable onboarding of Sent sender profiles: validate, run, inspect and repair.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help (click's): wrapped between words at the terminal's width, up to 80 columns,
    # never cutting an option or variable name as rich's boxes do (and rich is not loaded).
    rich_markup_mode=None,
)

#: The command modules, in the order their commands are listed by ``--help``.
MODULES: Final = (
    "run_commands", "worker_command", "db_commands", "read_commands", "stuck_commands",
    "export_commands", "repair_commands", "audit_commands", "sandbox_commands", "spec_commands",
    "event_commands", "key_commands", "console_commands",
)  # fmt: skip

#: Each top-level command (or command group) and the module that registers it
#: (``tests/test_cli_loading.py`` checks this against what the modules register).
COMMANDS: Final = {
    "start": "run_commands", "worker": "worker_command", "demo": "run_commands",
    "db": "db_commands",
    "list": "read_commands", "show": "read_commands", "history": "read_commands",
    "stuck": "stuck_commands", "batches": "stuck_commands", "workers": "stuck_commands",
    "export": "export_commands",
    "resume": "repair_commands", "retry": "repair_commands", "rewind": "repair_commands",
    "cancel": "repair_commands", "amend": "repair_commands",
    "audit": "audit_commands", "sandbox": "sandbox_commands",
    "validate": "spec_commands", "diagram": "spec_commands",
    "events": "event_commands", "key": "key_commands", "console": "console_commands",
}  # fmt: skip

#: Options of ``onboarding`` itself, which go before the command; those taking a value.
GLOBAL_OPTIONS: Final = frozenset({"--db", "--api-url", "--api-key", "--key-file", "--debug"})
_WITH_VALUE: Final = frozenset({"--db", "--api-url", "--api-key", "--key-file"})


def command_of(args: Sequence[str]) -> str | None:
    """The command a command line names: its first word past the global options, or ``None``
    (no command, or ``--help``/``--version`` before one)."""
    words = iter(args)
    for word in words:
        if word in _WITH_VALUE:
            next(words, None)
        elif word.startswith("-"):
            if word in ("--help", "--version", "--install-completion", "--show-completion"):
                return None
        else:
            return word
    return None


def load(args: Sequence[str] | None = None) -> typer.Typer:
    """Register the commands a command line needs (every command when ``args`` is ``None`` or
    names none that is known) and return :data:`app`."""
    importlib.import_module("workflow.cli.wiring")  # the global options (and --version)
    command = command_of(args) if args is not None else None
    if args is not None and command is None and "--version" in args and "--help" not in args:
        return app  # the version needs no command
    module = COMMANDS.get(command or "")
    for name in (module,) if module is not None else MODULES:
        importlib.import_module(f"workflow.cli.{name}")
    return app
