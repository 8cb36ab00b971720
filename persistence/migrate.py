"""Schema migrations through Alembic, run programmatically (``onboarding db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from workflow.errors import SchemaOutdatedError

__all__ = ["alembic_config", "current_revision", "ensure_current", "head_revision", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at this package's migrations and ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Bring the schema to the newest revision; returns it.

    Raises:
        SchemaOutdatedError: the database is at a revision this code does not know (newer
            software migrated it, or it is not this application's database).
    """
    _refuse_unknown(current_revision(engine), head_revision())
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return head_revision()


def _known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return {revision.revision for revision in script.walk_revisions()}


def _refuse_unknown(current: str | None, head: str) -> None:
    if current is None or current in _known_revisions():
        return
    # Revision ids are sequential numbers ("0001", "0002" ...), so a larger one is newer.
    if current.isdigit() and head.isdigit() and int(current) > int(head):
        raise SchemaOutdatedError(
            f"database schema is at revision {current}, newer than this code (it knows up to "
            f"{head}): a newer version of sent-onboarding migrated it; run that version, and do "
            "not downgrade the schema"
        )
    raise SchemaOutdatedError(
        f"database schema is at revision {current!r}, which is not one of this code's "
        f"migrations (up to {head}): check --db points at an onboarding database"
    )


def ensure_current(engine: Engine) -> None:
    """Refuse to run on a schema older or newer than this code, or at an unknown revision.

    Raises:
        SchemaOutdatedError: naming both revisions and what fixes it: ``db upgrade`` for an
            empty or older schema; never for a newer or unknown one, which it would break.
    """
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    _refuse_unknown(current, head)
    raise SchemaOutdatedError(
        f"database schema is at revision {current or 'none (empty database)'} but this "
        f"code needs {head}: run 'onboarding db upgrade' first"
    )
