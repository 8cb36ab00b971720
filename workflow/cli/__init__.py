"""The ``onboarding`` command line: operators, auditors and the demo.

Each sub-module registers its commands on :data:`app`; heavy imports (uvicorn, rich tables,
the database) load inside the commands that use them, so ``onboarding --help`` stays quick.
:func:`main` is the one place expected failures become a single line (see
:mod:`workflow.cli.failures`); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import typer

from workflow.cli.application import GLOBAL_OPTIONS, load
from workflow.core.printable import printable

__all__ = ["app", "main"]

if TYPE_CHECKING:
    from workflow.cli.application import app as app


def __getattr__(name: str) -> Any:
    """``workflow.cli.app``: the application with every command registered (for tests and
    tools that build the whole command tree); :func:`main` loads only what it runs."""
    if name == "app":
        from workflow.cli.application import load

        return load()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Click's error classes, found through typer: recent typer ships its own copy of click, so
# ``click.UsageError`` would not catch what typer raises.
_CLICK_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)
_USAGE_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)


def _error(message: str) -> None:
    typer.secho(f"error: {printable(message)}", fg=typer.colors.RED, err=True)


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``onboarding`` console script: runs a command, exits with its code.

    Usage errors, our errors, database and operating-system errors print one line
    (``error: ...``) and exit 2 (usage) or 1; anything else is a bug and keeps its traceback.
    """
    words = sys.argv[1:] if args is None else args
    # Shell completion (typer's _ONBOARDING_COMPLETE) needs every command; a run needs its own.
    completing = any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ)
    app = load(None if completing else words)
    try:
        code = app(args, standalone_mode=False)
    except _USAGE_ERROR as exc:
        context = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":
            app(args)  # a group run bare shows its help, exactly as typer prints it
        command = context.command_path if context is not None else "onboarding"
        message = exc.format_message()  # type: ignore[attr-defined]
        option = getattr(exc, "option_name", None)
        if option in GLOBAL_OPTIONS and context is not None and context.parent is not None:
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
        from workflow.cli.wiring import settings

        message = explain(exc, settings().db)
        if message is None or settings().debug:
            raise
        _error(message)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
