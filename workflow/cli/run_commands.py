"""``onboarding start`` and ``onboarding demo`` (``worker``: :mod:`workflow.cli.worker_command`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workflow.cli.application import app
from workflow.cli.processes import (
    MAX_CONCURRENCY,
    LogFormat,
    LogLevel,
    checked_revision,
    setup_logging,
)
from workflow.cli.wiring import checked_actor, echo, fail, open_store, open_vault, settings
from workflow.core.clock import SystemClock
from workflow.core.errors import SpecConflictError

__all__: list[str] = []  # the commands register themselves on the app


@app.command()
def start(
    specs: Annotated[list[Path], typer.Argument(help="Spec files (.json, .yaml).")],
    actor: Annotated[
        str,
        typer.Option(
            "--actor",
            envvar="USER",
            callback=checked_actor,
            help="Who starts them (kept in the audit log, at most 128 characters).",
        ),
    ] = "cli",
    sent_api: Annotated[
        str,
        typer.Option(
            "--sent-api",
            envvar="ONBOARDING_SENT_API",
            callback=checked_revision,
            help="The Sent API revision new onboardings start under: 2026-03 (the seeds') or "
            "2026-10 (SDK 0.46's); each keeps its own.",
        ),
    ] = "2026-03",
) -> None:
    """Validate and store onboardings (idempotent on each spec's key); a worker runs them.

    Every spec of the input is stored in one transaction, or none is. A missing SQLite
    database is created with its schema; its key file is created beside it.
    """
    from persistence.db import check_supported
    from workflow.core.spec import find_key_conflicts, read_specs
    from workflow.management.onboardings import Onboardings

    check_supported(settings().db)  # before the key question, which depends on the database
    valid, errors = read_specs(specs, today=SystemClock().now().date())
    errors += find_key_conflicts(valid)
    for error in errors:
        echo(f"{error.source}: {len(error.problems)} problem(s)", err=True)
        for problem in error.problems:
            echo(f"  {problem.path}: {problem.message}", err=True)
    if errors:
        raise fail("nothing was stored: fix the specs above and start again")
    store = open_store(create=True, write=True)
    # The key seals secrets and anchors the audit rows: without one, nothing is stored.
    onboardings = Onboardings(store, open_vault(), sent_api=sent_api)
    try:
        stored = onboardings.start_many([item.spec for item in valid], actor=actor)
    except SpecConflictError as exc:
        how = f" (to change it: 'onboarding amend {exc.key} FILE')" if exc.key else ""
        raise fail(f"{exc}{how}; nothing was stored") from exc
    for checkpoint, created in stored:
        note = "" if created else ", already started"
        echo(f"{checkpoint.key}: {checkpoint.id} ({checkpoint.state}{note})")


@app.command()
def demo(
    db: Annotated[
        str,
        typer.Option(
            help="SQLite file for the demo, recreated each run (a file an earlier demo made; "
            "any other database is refused). The global --db is not used."
        ),
    ] = "demo.db",
    concurrency: Annotated[int, typer.Option(min=1, max=MAX_CONCURRENCY)] = 8,
    log_level: LogLevel = "INFO",
    log_format: LogFormat = "text",
) -> None:
    """Onboard the sample profiles end to end against the in-process sandbox (no API key)."""
    from workflow.cli.demo import demo_path, run_demo

    setup_logging(log_level, log_format)
    run_demo(demo_path(db), concurrency)
