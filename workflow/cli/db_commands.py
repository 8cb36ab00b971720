"""``onboarding db upgrade`` and ``onboarding db current``: the database schema.

Reading commands live in :mod:`workflow.cli.read_commands`, operator actions in
:mod:`workflow.cli.repair_commands`."""

from __future__ import annotations

import typer

from workflow.cli import app
from workflow.cli.wiring import echo, settings

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest revision."""
    from persistence.db import make_engine, safe_url
    from persistence.migrate import upgrade

    revision = upgrade(make_engine(settings().db))
    echo(f"schema at revision {revision} ({safe_url(settings().db)})")


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
