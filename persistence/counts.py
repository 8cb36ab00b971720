"""The counts ``stuck --summary`` reads: unfinished onboardings per ``(state, code, kind)``.

A row of ``onboardings`` that is not finished counts once in ``stuck_counts``, under

* ``kind = 'paused'`` when nothing is scheduled (``next_attempt_at IS NULL``), with ``code`` its
  ``last_error.code`` (``''`` without one);
* ``kind = 'runnable'`` otherwise, with ``code = ''``.

Triggers on ``onboardings`` (migration 0009) move a row's count when its key changes, in the
transaction that changes it: on PostgreSQL as constraint triggers deferred to the commit (a
count row is then locked only while the transaction commits, not while it works), on SQLite
at once (it has one writer). :func:`refill` recounts everything (the migration fills the table
with it). A finished row, and a row deleted, count nowhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = [
    "PG_FUNCTION",
    "PG_TRIGGERS",
    "SQLITE_TRIGGERS",
    "TRIGGER_NAMES",
    "code_expression",
    "refill",
]

TRIGGER_NAMES: Final = (
    "onboardings_count_insert",
    "onboardings_count_update",
    "onboardings_count_delete",
)


def code_expression(postgres: bool, row: str = "") -> str:
    """SQL for ``last_error.code`` of ``row`` (``NEW``, ``OLD``, an alias or none)."""
    column = f"{row}.last_error" if row else "last_error"
    return f"{column} ->> 'code'" if postgres else f"json_extract({column}, '$.code')"


def _key(postgres: bool, row: str) -> tuple[str, str]:
    """The ``code`` and ``kind`` of ``row`` in ``stuck_counts``."""
    code = (
        f"CASE WHEN {row}.next_attempt_at IS NULL "
        f"THEN coalesce({code_expression(postgres, row)}, '') ELSE '' END"
    )
    kind = f"CASE WHEN {row}.next_attempt_at IS NULL THEN 'paused' ELSE 'runnable' END"
    return code, kind


def _decrement(postgres: bool, extra: str = "") -> str:
    code, kind = _key(postgres, "OLD")
    return (
        f"UPDATE stuck_counts SET count = count - 1 WHERE state = OLD.state AND code = {code} "
        f"AND kind = {kind}{extra}"
    )


def _increment(postgres: bool, condition: str = "") -> str:
    code, kind = _key(postgres, "NEW")
    source = f"SELECT NEW.state, {code}, {kind}, 1" + (f" WHERE {condition}" if condition else "")
    return (
        f"INSERT INTO stuck_counts (state, code, kind, count) {source} "
        "ON CONFLICT (state, code, kind) DO UPDATE SET count = stuck_counts.count + 1"
    )


def _changed(postgres: bool) -> str:
    """Whether an update moves the row to another count (or into or out of the counts)."""
    old_code, old_kind = _key(postgres, "OLD")
    new_code, new_kind = _key(postgres, "NEW")
    return (
        "(OLD.finished_at IS NULL) <> (NEW.finished_at IS NULL) "
        "OR OLD.state IS DISTINCT FROM NEW.state "
        f"OR ({old_kind}) <> ({new_kind}) OR ({old_code}) <> ({new_code})"
    ).replace("IS DISTINCT FROM", "IS DISTINCT FROM" if postgres else "IS NOT")


SQLITE_TRIGGERS: Final = (
    "CREATE TRIGGER onboardings_count_insert AFTER INSERT ON onboardings "
    f"WHEN NEW.finished_at IS NULL BEGIN {_increment(False, 'true')}; END",
    "CREATE TRIGGER onboardings_count_update AFTER UPDATE ON onboardings "
    f"WHEN {_changed(False)} BEGIN "
    f"{_decrement(False, ' AND OLD.finished_at IS NULL')}; "
    f"{_increment(False, 'NEW.finished_at IS NULL')}; END",
    "CREATE TRIGGER onboardings_count_delete AFTER DELETE ON onboardings "
    f"WHEN OLD.finished_at IS NULL BEGIN {_decrement(False)}; END",
)

PG_FUNCTION: Final = f"""
CREATE OR REPLACE FUNCTION onboardings_count_stuck() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.finished_at IS NULL THEN
    {_decrement(True)};
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.finished_at IS NULL THEN
    {_increment(True)};
  END IF;
  RETURN NULL;
END $$"""

_PG_TRIGGER = (
    "CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON onboardings "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW {when}EXECUTE FUNCTION onboardings_count_stuck()"
)
PG_TRIGGERS: Final = (
    _PG_TRIGGER.format(
        name="onboardings_count_insert", event="INSERT", when="WHEN (NEW.finished_at IS NULL) "
    ),
    _PG_TRIGGER.format(
        name="onboardings_count_update", event="UPDATE", when=f"WHEN ({_changed(True)}) "
    ),
    _PG_TRIGGER.format(
        name="onboardings_count_delete", event="DELETE", when="WHEN (OLD.finished_at IS NULL) "
    ),
)


def refill(connection: Connection) -> None:
    """Count every unfinished onboarding again (in the caller's transaction)."""
    from sqlalchemy import text

    postgres = connection.dialect.name == "postgresql"
    code, kind = _key(postgres, "o")
    connection.execute(text("DELETE FROM stuck_counts"))
    connection.execute(
        text(
            "INSERT INTO stuck_counts (state, code, kind, count) "
            f"SELECT o.state, {code}, {kind}, count(*) FROM onboardings o "
            f"WHERE o.finished_at IS NULL GROUP BY o.state, {code}, {kind}"
        )
    )
