"""``onboarding db upgrade`` and ``onboarding db current``: the database schema.

Reading commands live in :mod:`workflow.cli.read_commands`, operator actions in
:mod:`workflow.cli.repair_commands`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from workflow.cli.application import app
from workflow.cli.wiring import echo, existing_vault, settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest revision.

    Also restores the audit log's append-only triggers when one is missing,
    disabled or altered (even at the newest revision). The upgrade that adds
    audit anchors anchors the existing logs when the secret key is at hand
    (after checking each); otherwise run 'onboarding audit anchor' with it.
    """
    from persistence.db import make_engine, safe_url
    from persistence.migrate import migrate

    engine = make_engine(settings().db)
    try:
        done = migrate(engine)
        echo(f"schema at revision {done.revision} ({safe_url(settings().db)})")
        if done.restored:
            echo(
                f"restored the audit log's guards: {', '.join(done.restored)} (they were "
                "missing, disabled or altered; 'onboarding audit verify' checks the log)"
            )
        if done.anchoring_added:
            _anchor_existing(engine)
    finally:
        engine.dispose()


def _anchor_existing(engine: Engine) -> None:
    from persistence.store import SqlStore
    from workflow.cli.audit_commands import anchor_summary, problem_lines
    from workflow.management.audit_anchoring import anchor_audit

    store = SqlStore(engine)
    waiting = store.count_unanchored()
    if not waiting:
        return
    vault = existing_vault()
    if vault is None:
        echo(
            f"{waiting} audit log(s) written before this release have no anchor yet: run "
            "'onboarding audit anchor' with the secret key (ONBOARDING_SECRET_KEY or "
            "--key-file); until then workers and operator actions do not write to them"
        )
        return
    report = anchor_audit(store, vault)
    for problem in report.refused:
        for line in problem_lines(problem):
            echo(line)
    echo(anchor_summary(report.anchored, report.changed, report.refused_logs))


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
    echo(f"database: {current}; code: {head_revision()}")
