"""``onboarding validate`` and ``onboarding diagram``: commands that need no database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workflow.cli.application import app
from workflow.cli.wiring import echo
from workflow.core.clock import SystemClock


@app.command()
def validate(
    specs: Annotated[
        list[Path], typer.Argument(help="Spec files (.json, .yaml): one spec or a list.")
    ],
) -> None:
    """Check specs against every API rule; print each problem with its field path.

    Files are read safely (size, depth, YAML aliases and duplicate keys are refused) and
    excerpts never show secrets. One key given twice with different content is a problem.
    Exits 1 when any spec has a problem, 0 when all are valid. Nothing is sent anywhere.
    """
    from workflow.core.spec import find_key_conflicts, read_specs

    valid, errors = read_specs(specs, today=SystemClock().now().date())
    conflicts = find_key_conflicts(valid)
    conflicting = {item.spec.key for item in valid if item.source in {c.source for c in conflicts}}
    for error in [*errors, *conflicts]:
        echo(f"{error.source}: {len(error.problems)} problem(s)")
        for problem in error.problems:
            echo(f"  {problem.path}: {problem.message}")
    for item in valid:
        if item.spec.key not in conflicting:
            echo(f"{item.spec.key}: valid")
    if errors or conflicts:
        raise typer.Exit(1)


@app.command("diagram")
def diagram_command(
    directory: Annotated[Path, typer.Option(help="Where the diagrams live.")] = Path("diagrams"),
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when the committed diagram is stale.")
    ] = False,
) -> None:
    """Write the state machine diagram: diagrams/onboarding.svg and onboarding.md (Mermaid)."""
    from workflow.flows import diagram

    if check:
        if not diagram.check(directory):
            typer.echo(
                f"{directory / diagram.MARKDOWN_NAME} is stale: run 'onboarding diagram' "
                "and commit the result",
                err=True,
            )
            raise typer.Exit(1)
        typer.echo(f"{directory / diagram.MARKDOWN_NAME} is up to date")
        return
    for path in diagram.write(directory):
        typer.echo(f"wrote {path}")
