"""The ``onboarding`` command line: operators, auditors and the demo.

Each sub-module registers its commands on :data:`app`; heavy imports (uvicorn, rich tables,
the database) load inside the commands that use them, so ``onboarding --help`` stays quick.
:func:`main` is the one place expected failures become a single line (see
:mod:`workflow.cli.failures`); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys

import typer

from workflow.core.printable import printable

app = typer.Typer(
    name="onboarding",
    help="Durable onboarding of Sent sender profiles: validate, run, inspect and repair.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help (click's): wrapped between words at the terminal's width, up to 80 columns,
    # never cutting an option or variable name as rich's boxes do (and rich is not loaded).
    rich_markup_mode=None,
)

from workflow.cli import (  # noqa: E402  (the modules register their commands on app)
    audit_commands as _audit_commands,
    console_commands as _console_commands,
    db_commands as _db_commands,
    event_commands as _event_commands,
    key_commands as _key_commands,
    read_commands as _read_commands,
    repair_commands as _repair_commands,
    run_commands as _run_commands,
    sandbox_commands as _sandbox_commands,
    spec_commands as _spec_commands,
    wiring as _wiring,
)

__all__ = ["app", "main"]
_REGISTERED = (
    _wiring, _run_commands, _db_commands, _read_commands, _repair_commands, _audit_commands,
    _sandbox_commands, _spec_commands, _event_commands, _key_commands, _console_commands,
)  # fmt: skip


# Click's error classes, found through typer: recent typer ships its own copy of click, so
# ``click.UsageError`` would not catch what typer raises.
_CLICK_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)
_USAGE_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)


#: Options of ``onboarding`` itself, which go before the command.
_GLOBAL_OPTIONS = frozenset({"--db", "--api-url", "--api-key", "--key-file", "--debug"})


def _error(message: str) -> None:
    typer.secho(f"error: {printable(message)}", fg=typer.colors.RED, err=True)


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``onboarding`` console script: runs a command, exits with its code.

    Usage errors, our errors, database and operating-system errors print one line
    (``error: ...``) and exit 2 (usage) or 1; anything else is a bug and keeps its traceback.
    """
    try:
        code = app(args, standalone_mode=False)
    except _USAGE_ERROR as exc:
        context = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":
            app(args)  # a group run bare shows its help, exactly as typer prints it
        command = context.command_path if context is not None else "onboarding"
        message = exc.format_message()  # type: ignore[attr-defined]
        option = getattr(exc, "option_name", None)
        if option in _GLOBAL_OPTIONS and context is not None and context.parent is not None:
            # '--db' after the command: say where the global options go.
            message += f"; {option} is a global option: put it before the command, e.g. "
            message += f"'onboarding {option} … {context.info_name} …'"
        _error(f"{message} (see '{command} --help')")
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except _CLICK_ERROR as exc:
        _error(exc.format_message())  # type: ignore[attr-defined]
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except typer.Abort:
        _error("aborted")
        sys.exit(1)
    except Exception as exc:
        from workflow.cli.failures import explain

        message = explain(exc, _wiring.settings().db)
        if message is None or _wiring.settings().debug:
            raise
        _error(message)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
