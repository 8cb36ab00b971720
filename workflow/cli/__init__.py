"""The ``onboarding`` command line: operators, auditors and the demo.

Each sub-module registers its commands on :data:`app`; heavy imports (uvicorn, rich tables,
the database) load inside the commands that use them, so ``onboarding --help`` stays quick.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="onboarding",
    help="Durable onboarding of Sent sender profiles: validate, run, inspect and repair.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

from workflow.cli import ops_commands as _ops_commands  # noqa: E402
from workflow.cli import run_commands as _run_commands  # noqa: E402
from workflow.cli import sandbox_commands as _sandbox_commands  # noqa: E402
from workflow.cli import spec_commands as _spec_commands  # noqa: E402
from workflow.cli import wiring as _wiring  # noqa: E402  (global options first)

__all__ = ["app", "main"]
_REGISTERED = (_wiring, _run_commands, _ops_commands, _sandbox_commands, _spec_commands)


def main() -> None:
    """Entry point of the ``onboarding`` console script."""
    app()
