"""``onboarding start``, ``onboarding worker`` and ``onboarding demo``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from workflow.cli import app
from workflow.cli.wiring import engine_config, fail, open_store, open_vault, settings
from workflow.clock import SystemClock
from workflow.errors import OnboardingError


@app.command()
def start(
    specs: Annotated[list[Path], typer.Argument(help="Spec files (.json, .yaml).")],
    actor: Annotated[
        str, typer.Option("--actor", envvar="USER", help="Who starts them (kept in the audit log).")
    ] = "cli",
) -> None:
    """Validate and store onboardings (idempotent on each spec's key); a worker runs them.

    Every spec of the input is stored in one transaction, or none is.
    """
    from workflow.management import Onboardings
    from workflow.spec import find_key_conflicts, read_specs

    valid, errors = read_specs(specs, today=SystemClock().now().date())
    errors += find_key_conflicts(valid)
    for error in errors:
        typer.echo(f"{error.source}: {len(error.problems)} problem(s)", err=True)
        for problem in error.problems:
            typer.echo(f"  {problem.path}: {problem.message}", err=True)
    if errors:
        raise fail("nothing was stored: fix the specs above and start again")
    onboardings = Onboardings(open_store(), open_vault())
    try:
        stored = onboardings.start_many([item.spec for item in valid], actor=actor)
    except OnboardingError as exc:
        raise fail(f"{exc} (nothing was stored)") from exc
    for checkpoint, created in stored:
        note = "" if created else ", already started"
        typer.echo(f"{checkpoint.key}: {checkpoint.id} ({checkpoint.state}{note})")


@app.command()
def worker(
    until_idle: Annotated[
        bool,
        typer.Option("--until-idle", help="Exit 0 once every onboarding is terminal or paused."),
    ] = False,
    concurrency: Annotated[int, typer.Option(help="Onboardings in flight at once.")] = 8,
    poll_interval: Annotated[float, typer.Option(help="Seconds between claims.")] = 0.5,
    serve_callbacks: Annotated[
        bool, typer.Option(help="Serve the completion-callback receiver.")
    ] = False,
    callback_host: Annotated[str, typer.Option()] = "127.0.0.1",
    callback_port: Annotated[int, typer.Option()] = 8780,
    max_seconds: Annotated[float | None, typer.Option(help="Stop after this long.")] = None,
    lease_seconds: Annotated[
        float, typer.Option(help="Claim length; a dead worker's onboardings wait this long.")
    ] = 60.0,
    signing_secret: Annotated[
        str | None,
        typer.Option(envvar="ONBOARDING_SIGNING_SECRET", help="Verify callback signatures."),
    ] = None,
) -> None:
    """Run onboardings: claim due ones, call Sent, retry, wait for completion."""
    from workflow.runner import Worker
    from workflow.sandbox.server import ServerThread
    from workflow.sent_client import HttpxSentApi
    from workflow.webhook import create_callback_app

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    store = open_store()
    vault = open_vault()
    callback_app = None
    if serve_callbacks:
        try:
            callback_app = create_callback_app(store, vault, signing_secret=signing_secret)
        except ValueError as exc:
            raise fail(str(exc)) from exc
    try:
        api = HttpxSentApi(settings().api_url, settings().api_key, timeout=30)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    overrides: dict[str, object] = {}
    if serve_callbacks:
        overrides["callback_base_url"] = f"http://{callback_host}:{callback_port}"
    receiver = None
    if callback_app is not None:
        receiver = ServerThread(callback_app, callback_host, callback_port).start()
    try:
        runner = Worker(
            store,
            api,
            vault,
            config=engine_config(**overrides),
            concurrency=concurrency,
            poll_interval=poll_interval,
            lease_seconds=lease_seconds,
        )
        idle = runner.run(until_idle=until_idle, max_seconds=max_seconds)
    finally:
        if receiver is not None:
            receiver.stop()
        api.close()
    if until_idle and not idle:
        raise typer.Exit(2)


@app.command()
def demo(
    db: Annotated[Path, typer.Option(help="SQLite file for the demo (recreated).")] = Path(
        "demo.db"
    ),
    concurrency: Annotated[int, typer.Option()] = 8,
) -> None:
    """Onboard the sample profiles end to end against the in-process sandbox (no API key)."""
    from workflow.cli.demo import run_demo

    run_demo(db, concurrency)
