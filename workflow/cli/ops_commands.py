"""Operator actions: resume, retry, rewind, cancel, amend, and ``db upgrade``/``db current``.

The read commands (list, show, history, stuck, export, workers) live in
:mod:`workflow.cli.read_commands`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from workflow.cli import app
from workflow.cli.wiring import fail, open_store, open_vault, settings
from workflow.clock import SystemClock
from workflow.errors import OnboardingError

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

#: The audit log's ``actor`` column holds this many characters.
ACTOR_MAX_LENGTH = 128


def _reason(value: str) -> str:
    if not value.strip():
        raise typer.BadParameter("is empty: say why (the reason is kept in the audit log)")
    return value


def _actor(value: str) -> str:
    if not value.strip():
        raise typer.BadParameter("is empty: name who acts (kept in the audit log)")
    if len(value) > ACTOR_MAX_LENGTH:
        raise typer.BadParameter(
            f"is {len(value)} characters long; the audit log keeps at most {ACTOR_MAX_LENGTH}"
        )
    return value


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest revision."""
    from persistence.db import make_engine, safe_url
    from persistence.migrate import upgrade

    revision = upgrade(make_engine(settings().db))
    typer.echo(f"schema at revision {revision} ({safe_url(settings().db)})")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database and the one this code needs."""
    from persistence.db import make_engine, sqlite_path
    from persistence.migrate import current_revision, head_revision

    path = sqlite_path(settings().db)
    if path is not None and not path.exists():
        current = f"missing ({path})"  # reading must not create the file
    else:
        current = current_revision(make_engine(settings().db)) or "empty"
    typer.echo(f"database: {current}; code: {head_revision()}")


def _operator(action: str, onboarding: str, reason: str, actor: str, **kwargs: Any) -> None:
    from workflow.management import Onboardings
    from workflow.secrets import FernetVault

    # Operator actions change the checkpoint only: they never open a secret or mint a
    # callback token, so they need no key (and must not create a key file).
    onboardings = Onboardings(open_store(), FernetVault.generate())
    row = getattr(onboardings, action)(onboarding, actor=actor, reason=reason, **kwargs)
    typer.echo(f"{row.key} ({row.id}): now {row.state}")


Reason = Annotated[
    str, typer.Option("--reason", callback=_reason, help="Why (kept in the audit log).")
]
Actor = Annotated[
    str,
    typer.Option(
        "--actor", envvar="USER", callback=_actor,
        help=f"Who (kept in the audit log, at most {ACTOR_MAX_LENGTH} characters).",
    ),
]  # fmt: skip
Target = Annotated[str, typer.Argument(help="Onboarding id or key.")]
DeleteAtSent = Annotated[
    bool, typer.Option("--delete-at-sent", help="Also delete the profile at Sent (audited).")
]


@app.command()
def resume(onboarding: Target, reason: Reason, actor: Actor = "operator") -> None:
    """Resume a paused onboarding in the state it paused from."""
    _operator("resume", onboarding, reason, actor)


@app.command()
def retry(onboarding: Target, reason: Reason, actor: Actor = "operator") -> None:
    """Run the current step again now (resumes a paused onboarding)."""
    _operator("retry", onboarding, reason, actor)


@app.command()
def rewind(
    onboarding: Target,
    to: Annotated[str, typer.Option("--to", help="An earlier state of the path, e.g. incomplete.")],
    reason: Reason,
    actor: Actor = "operator",
    delete_at_sent: DeleteAtSent = False,
) -> None:
    """Go back to an earlier state; the steps after it run again with new idempotency keys.

    Creates that may have happened are looked up at Sent first, never made twice. With
    --to pending a new profile is created; --delete-at-sent deletes the old one first.
    """
    _operator("rewind", onboarding, reason, actor, target=to, delete_at_sent=delete_at_sent)


@app.command()
def cancel(
    onboarding: Target,
    reason: Reason,
    actor: Actor = "operator",
    delete_at_sent: DeleteAtSent = False,
) -> None:
    """Cancel an onboarding for good (its stored secrets are deleted).

    Nothing at Sent is deleted unless --delete-at-sent: then the worker deletes every profile
    Sent answered for it (404 counts as done) before it ends as cancelled.
    """
    _operator("cancel", onboarding, reason, actor, delete_at_sent=delete_at_sent)


@app.command()
def amend(
    onboarding: Target,
    spec_file: Annotated[Path, typer.Argument(help="The corrected spec (.json, .yaml).")],
    reason: Reason,
    actor: Actor = "operator",
) -> None:
    """Replace the spec of an onboarding that is paused or not yet started.

    The steps still to run send the new values under new Idempotency-Keys; values that earlier
    steps already sent are listed (rewind to send them again).
    """
    from workflow.management import Onboardings
    from workflow.spec import parse_documents

    valid, errors = parse_documents([spec_file], today=SystemClock().now().date())
    for error in errors:
        for problem in error.problems:
            typer.echo(f"  {problem.path}: {problem.message}", err=True)
    if errors or len(valid) != 1:
        raise fail(f"{spec_file} must hold exactly one valid spec; nothing was changed")
    # The key is needed only to seal secrets the amended spec brings.
    onboardings = Onboardings(open_store(), open_vault(required=bool(valid[0].secret_values())))
    try:
        row, sent = onboardings.amend(onboarding, valid[0], actor=actor, reason=reason)
    except OnboardingError as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"{row.key} ({row.id}): amended, now {row.state}")
    if sent:
        typer.echo(
            f"already sent by earlier steps: {', '.join(sent)}; "
            f"'onboarding rewind {row.key} --to STATE' sends them again"
        )
