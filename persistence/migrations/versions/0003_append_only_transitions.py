"""append-only audit log: the database refuses UPDATE and DELETE on transitions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 16:00:00

The audit log's rows are only ever inserted; from this revision on the database itself refuses
to change or remove one, whoever asks:

* PostgreSQL: one trigger function raising an exception, fired BEFORE UPDATE OR DELETE on each
  row and BEFORE TRUNCATE on the statement (TRUNCATE fires no row triggers);
* SQLite: a BEFORE UPDATE and a BEFORE DELETE trigger, each ``RAISE(ABORT, ...)``.

Dropping the table still works (tests and benchmarks reset a database that way): neither
backend fires these triggers for ``DROP TABLE``. A later migration that rebuilds ``transitions``
on SQLite (Alembic's batch mode copies the table and drops the old one, triggers included)
must create the triggers again; so must one that rewrites rows, which has to drop them first.

Downgrading drops the triggers (and the function).
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MESSAGE = "transitions are append-only"

POSTGRES_UP = (
    f"""
    CREATE OR REPLACE FUNCTION transitions_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}: % on the audit log is refused', TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE TRIGGER transitions_append_only BEFORE UPDATE OR DELETE ON transitions
    FOR EACH ROW EXECUTE FUNCTION transitions_append_only()
    """,
    """
    CREATE TRIGGER transitions_no_truncate BEFORE TRUNCATE ON transitions
    FOR EACH STATEMENT EXECUTE FUNCTION transitions_append_only()
    """,
)
POSTGRES_DOWN = (
    "DROP TRIGGER IF EXISTS transitions_no_truncate ON transitions",
    "DROP TRIGGER IF EXISTS transitions_append_only ON transitions",
    "DROP FUNCTION IF EXISTS transitions_append_only()",
)
SQLITE_UP = tuple(
    f"""
    CREATE TRIGGER transitions_no_{verb.lower()} BEFORE {verb} ON transitions
    BEGIN
        SELECT RAISE(ABORT, '{MESSAGE}: {verb} on the audit log is refused');
    END
    """
    for verb in ("UPDATE", "DELETE")
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS transitions_no_update",
    "DROP TRIGGER IF EXISTS transitions_no_delete",
)


def _statements(postgres: tuple[str, ...], sqlite: tuple[str, ...]) -> tuple[str, ...]:
    name = op.get_bind().dialect.name
    if name == "postgresql":
        return postgres
    if name == "sqlite":
        return sqlite
    raise NotImplementedError(f"no append-only triggers for the {name} dialect")


def upgrade() -> None:
    for statement in _statements(POSTGRES_UP, SQLITE_UP):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(POSTGRES_DOWN, SQLITE_DOWN):
        op.execute(statement)
