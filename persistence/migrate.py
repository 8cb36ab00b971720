"""Schema migrations through Alembic, run programmatically (``onboarding db upgrade``).

Checking that a database is current reads ``alembic_version`` with one query and compares it
with :data:`HEAD`; Alembic itself loads only to migrate (or to explain an unknown revision), so
a worker or a ``show`` does not pay for it. A test keeps :data:`HEAD` equal to the newest
migration.

Every upgrade, even of a schema already at :data:`HEAD`, also restores the audit log's guards
(the append-only triggers, :mod:`persistence.guards`) that are missing, disabled or altered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from workflow.ports import SchemaOutdatedError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Engine

__all__ = [
    "HEAD",
    "Migration",
    "alembic_config",
    "check_revision",
    "current_revision",
    "ensure_current",
    "head_revision",
    "migrate",
    "upgrade",
]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The newest migration's revision: what this code's queries expect.
HEAD: Final = "0011"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at this package's migrations and ``url``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    return HEAD


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    from sqlalchemy import inspect, text

    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if revision is None else str(revision)


@dataclass(frozen=True, slots=True)
class Migration:
    """What :func:`migrate` did.

    Attributes:
        revision: the revision the schema is at now.
        before: the revision it was at (``None``: an empty database).
        restored: the audit log guards that were missing, disabled or altered and were made
            again (:mod:`persistence.guards`).
        anchoring_added: this upgrade added the audit anchors: onboardings stored before it
            have none yet (see ``onboarding audit anchor``).
    """

    revision: str
    before: str | None
    restored: tuple[str, ...]
    anchoring_added: bool


def migrate(engine: Engine) -> Migration:
    """Bring the schema to the newest revision and restore the audit log's guards.

    Raises:
        SchemaOutdatedError: the database is at a revision this code does not know (newer
            software migrated it, or it is not this application's database).
    """
    from alembic import command
    from sqlalchemy import inspect

    from persistence.guards import restore_guards

    before = current_revision(engine)
    _refuse_unknown(before, head_revision())
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        inspector = inspect(connection)
        unanchored = inspector.has_table("onboardings") and "audit_anchor" not in {
            column["name"] for column in inspector.get_columns("onboardings")
        }
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        restored = restore_guards(connection)
    return Migration(head_revision(), before, tuple(restored), unanchored)


def upgrade(engine: Engine) -> str:
    """Bring the schema to the newest revision (see :func:`migrate`); returns it.

    Raises:
        SchemaOutdatedError: as :func:`migrate`.
    """
    return migrate(engine).revision


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

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
    check_revision(current_revision(engine))


def check_revision(current: str | None) -> None:
    """Refuse a database at revision ``current`` unless it is this code's (see
    :func:`ensure_current`; readers that do not use SQLAlchemy read the revision themselves).

    Raises:
        SchemaOutdatedError: as :func:`ensure_current`.
    """
    head = head_revision()
    if current == head:
        return
    _refuse_unknown(current, head)
    raise SchemaOutdatedError(
        f"database schema is at revision {current or 'none (empty database)'} but this "
        f"code needs {head}: run 'onboarding db upgrade' first"
    )
