"""The database's own guards on the audit log: the triggers that keep ``transitions`` append-only.

They are defined here once, checked (:func:`guard_problems`: ``audit verify`` reports each one
missing, disabled or not as defined here) and restored (:func:`restore_guards`: ``db upgrade``
runs it every time, so a dropped trigger comes back even on a schema already at the newest
revision; it leaves guards that are as defined here alone).

* SQLite: ``BEFORE UPDATE`` and ``BEFORE DELETE`` triggers raise (migration 0003), and a ``BEFORE
  INSERT`` trigger refuses a row whose ``id`` or ``(onboarding_id, seq)`` exists already:
  ``INSERT OR REPLACE`` would otherwise delete the row it conflicts with without firing the
  ``DELETE`` trigger and put another in its place.
* PostgreSQL: one trigger function raising, fired ``BEFORE UPDATE OR DELETE`` for each row and
  ``BEFORE TRUNCATE`` for the statement. It has no ``REPLACE``: ``INSERT ... ON CONFLICT DO
  UPDATE`` updates the existing row and fires the ``UPDATE`` trigger; a plain duplicate is
  refused by the primary key and the ``(onboarding_id, seq)`` unique constraint.

What the guards do not stop, the anchors find (:mod:`workflow.core.audit_chain`): someone who may
drop triggers, or who runs with ``session_replication_role = replica`` on PostgreSQL (which fires
none of them), can still rewrite rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["MESSAGE", "GuardProblem", "guard_problems", "restore_guards"]

MESSAGE: Final = "transitions are append-only"


@dataclass(frozen=True, slots=True)
class GuardProblem:
    """One guard that is not as defined: its name (a function's with ``()``) and what is
    wrong, in one sentence."""

    name: str
    message: str


@dataclass(frozen=True, slots=True)
class _Trigger:
    name: str
    refuses: str  # what it refuses, for messages
    sql: str  # SQLite: the whole CREATE TRIGGER; PostgreSQL: the CREATE TRIGGER statement
    pg_type: int = 0  # PostgreSQL's pg_trigger.tgtype bits


def _sqlite_refusal(verb: str) -> str:
    return (
        f"CREATE TRIGGER transitions_no_{verb.lower()} BEFORE {verb} ON transitions "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: {verb} on the audit log is refused'); END"
    )


SQLITE_TRIGGERS: Final = (
    _Trigger("transitions_no_update", "UPDATE", _sqlite_refusal("UPDATE")),
    _Trigger("transitions_no_delete", "DELETE", _sqlite_refusal("DELETE")),
    _Trigger(
        "transitions_no_replace",
        "INSERT OR REPLACE over an existing row",
        "CREATE TRIGGER transitions_no_replace BEFORE INSERT ON transitions "
        "WHEN EXISTS (SELECT 1 FROM transitions WHERE id = NEW.id "
        "OR (onboarding_id = NEW.onboarding_id AND seq = NEW.seq)) "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: INSERT over an existing row of the audit log "
        "is refused'); END",
    ),
)

PG_FUNCTION: Final = "transitions_append_only"
PG_FUNCTION_BODY: Final = (
    f"BEGIN RAISE EXCEPTION '{MESSAGE}: % on the audit log is refused', TG_OP "
    "USING ERRCODE = 'restrict_violation'; END"
)
# tgtype bits: 1 row, 2 before, 4 insert, 8 delete, 16 update, 32 truncate.
PG_TRIGGERS: Final = (
    _Trigger(
        "transitions_append_only",
        "UPDATE and DELETE",
        "CREATE TRIGGER transitions_append_only BEFORE UPDATE OR DELETE ON transitions "
        f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()",
        pg_type=1 | 2 | 8 | 16,
    ),
    _Trigger(
        "transitions_no_truncate",
        "TRUNCATE",
        "CREATE TRIGGER transitions_no_truncate BEFORE TRUNCATE ON transitions "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()",
        pg_type=2 | 32,
    ),
)
_PG_CREATE_FUNCTION: Final = (
    f"CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql "
    f"AS $$ {PG_FUNCTION_BODY} $$"
)
_PG_STATE: Final = """
    SELECT t.tgname, t.tgtype, t.tgenabled, p.proname, t.tgqual IS NULL, t.tgattr::text = ''
    FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE t.tgrelid = to_regclass('transitions') AND NOT t.tgisinternal
"""


def _plain(sql: str | None) -> str:
    return re.sub(r"\s+", " ", sql or "").strip()


def _missing(trigger: _Trigger) -> GuardProblem:
    return GuardProblem(
        trigger.name,
        f"{trigger.name} is missing: {trigger.refuses} on the audit log is not refused",
    )


def _altered(trigger: _Trigger) -> GuardProblem:
    return GuardProblem(
        trigger.name,
        f"{trigger.name} is not as this code defines it (altered or replaced): "
        f"{trigger.refuses} on the audit log may not be refused",
    )


def _sqlite_problems(connection: Connection) -> list[GuardProblem]:
    from sqlalchemy import text

    found = {
        name: (table, sql)
        for name, table, sql in connection.execute(
            text("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")
        )
    }
    problems = []
    for trigger in SQLITE_TRIGGERS:
        if trigger.name not in found:
            problems.append(_missing(trigger))
        elif found[trigger.name][0] != "transitions" or _plain(found[trigger.name][1]) != (
            trigger.sql
        ):
            problems.append(_altered(trigger))
    return problems


def _pg_problems(connection: Connection) -> list[GuardProblem]:
    from sqlalchemy import text

    problems = []
    body = connection.execute(
        text("SELECT prosrc FROM pg_proc WHERE proname = :name"), {"name": PG_FUNCTION}
    ).scalar()
    if body is None:
        problems.append(
            GuardProblem(
                f"{PG_FUNCTION}()",
                f"function {PG_FUNCTION}() is missing: the audit log's triggers cannot refuse",
            )
        )
    elif _plain(body) != PG_FUNCTION_BODY:
        problems.append(
            GuardProblem(
                f"{PG_FUNCTION}()",
                f"function {PG_FUNCTION}() is not as this code defines it (altered or "
                "replaced): the audit log's triggers may not refuse",
            )
        )
    found = {row[0]: row[1:] for row in connection.execute(text(_PG_STATE))}
    for trigger in PG_TRIGGERS:
        state = found.get(trigger.name)
        if state is None:
            problems.append(_missing(trigger))
            continue
        kind, enabled, function, unconditional, all_columns = state
        if enabled == "D":
            problems.append(
                GuardProblem(
                    trigger.name,
                    f"{trigger.name} is disabled: {trigger.refuses} on the audit log is not "
                    "refused",
                )
            )
        elif not (
            kind == trigger.pg_type and function == PG_FUNCTION and unconditional and all_columns
        ):
            problems.append(_altered(trigger))
    return problems


def guard_problems(connection: Connection) -> list[GuardProblem]:
    """Every guard of the audit log that is missing, disabled or not as defined here.

    Raises:
        NotImplementedError: a database other than SQLite or PostgreSQL.
    """
    name = connection.dialect.name
    if name == "sqlite":
        return _sqlite_problems(connection)
    if name == "postgresql":
        return _pg_problems(connection)
    raise NotImplementedError(f"no audit log guards for the {name} dialect")


def restore_guards(connection: Connection) -> list[str]:
    """Create every guard that is missing, disabled or altered (idempotent); returns their names.

    Runs inside the caller's transaction (``db upgrade``'s).
    """
    from sqlalchemy import text

    problems = guard_problems(connection)
    postgres = connection.dialect.name == "postgresql"
    broken = {problem.name for problem in problems}
    if postgres and f"{PG_FUNCTION}()" in broken:
        connection.execute(text(_PG_CREATE_FUNCTION))
    for trigger in PG_TRIGGERS if postgres else SQLITE_TRIGGERS:
        if trigger.name in broken:
            on = " ON transitions" if postgres else ""
            connection.execute(text(f"DROP TRIGGER IF EXISTS {trigger.name}{on}"))
            connection.execute(text(trigger.sql))
    return [problem.name for problem in problems]
