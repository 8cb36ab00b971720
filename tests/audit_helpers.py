"""Audit-log test helpers: onboardings with valid chains, raw reads, and tampering."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Executable, text

from persistence.store import SqlStore
from tests.conftest import TEST_VAULT
from workflow.core.audit_chain import chained
from workflow.ports import AuditEntry, Change, Checkpoint, CheckpointUpdate, NewOnboarding

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

#: (trigger, to_state) after the start: the path to ``brand``, a pause, a retry back, a retry.
STEPS = (
    ("create_profile", "incomplete"),
    ("attach_brand", "brand"),
    ("pause", "needs_attention"),
    ("retry", "brand"),
    ("retry", "brand"),
)


def started(store: SqlStore, key: str, steps: int = 1) -> str:
    """An onboarding whose log is its start row and the first ``steps`` of :data:`STEPS`."""
    checkpoint = Checkpoint(
        id=key.ljust(32, "-")[:32], key=key, fingerprint="f" * 64, spec={"key": key},
        state="pending", version=0, next_attempt_at=NOW, created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    entry = chained(checkpoint, AuditEntry("start", None, "pending", "alice", NOW), TEST_VAULT)
    checkpoint = dataclasses.replace(
        checkpoint, audit_seq=entry.seq, audit_head=entry.digest, audit_anchor=entry.anchor
    )
    ((row, _),) = store.insert_many([NewOnboarding(checkpoint, entry, None)])
    for number, (trigger, state) in enumerate(STEPS[:steps], start=1):
        row = advance(store, row, trigger, state, at=NOW + timedelta(seconds=number))
    return row.id


def advance(
    store: SqlStore, row: Checkpoint, trigger: str, state: str, *, at: datetime = NOW
) -> Checkpoint:
    """Commit one transition of ``row`` as the engine does: checkpoint and chained row."""
    paused_from = row.state if state == "needs_attention" else None
    entry = chained(
        row,
        AuditEntry(
            trigger, row.state, state, "worker:w1", at, reason=f"{trigger} now",
            request_id=f"req_{trigger}", details={"step": trigger, "n": [1, 2]},
            profile_id="prof_1",
        ),
        TEST_VAULT,
    )  # fmt: skip
    update = CheckpointUpdate(state=state, paused_from=paused_from, profile_id="prof_1")
    return store.apply(Change(row.id, row.version, at, update, entry))


def log_of(store: SqlStore, onboarding_id: str) -> list[dict[str, Any]]:
    """The raw ``transitions`` rows of one onboarding, in order."""
    with store.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT * FROM transitions WHERE onboarding_id = :id ORDER BY seq"),
            {"id": onboarding_id},
        )
        return [dict(row._mapping) for row in rows]


def drop_append_only(store: SqlStore) -> None:
    """Drop the triggers that keep the audit log append-only (what a tamperer would do)."""
    if store.engine.dialect.name == "postgresql":
        statements = [
            "DROP TRIGGER IF EXISTS transitions_append_only ON transitions",
            "DROP TRIGGER IF EXISTS transitions_no_truncate ON transitions",
        ]
    else:
        statements = [
            "DROP TRIGGER IF EXISTS transitions_no_update",
            "DROP TRIGGER IF EXISTS transitions_no_delete",
            "DROP TRIGGER IF EXISTS transitions_no_replace",
        ]
    with store.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def tamper(store: SqlStore, statement: str | Executable, **params: Any) -> None:
    """Run ``statement`` against the log with its protecting triggers dropped, then put them
    back exactly as they were (what a careful tamperer would do: they no longer show)."""
    from persistence.guards import restore_guards

    drop_append_only(store)
    with store.engine.begin() as connection:
        connection.execute(text(statement) if isinstance(statement, str) else statement, params)
        restore_guards(connection)


# ------------------------------------------------------------------ an attacker's raw access
#: The columns of a ``transitions`` row, as an attacker writes them back.
COLUMNS = (
    "id", "onboarding_id", "seq", "from_state", "to_state", "trigger", "actor", "reason", "at",
    "request_id", "details", "profile_id", "batch_id", "digest",
)  # fmt: skip


def raw(store: SqlStore) -> Any:
    """A connection of the database's own driver (``sqlite3``, with its foreign keys off as it
    opens them; ``psycopg``), outside everything the application sets up."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite":
        import sqlite3

        return sqlite3.connect(str(url.database))
    import psycopg

    return psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))


def _sql(connection: Any, statement: str) -> str:
    return statement if type(connection).__module__.startswith("sqlite3") else (
        statement.replace("?", "%s")
    )  # fmt: skip


def raw_log(connection: Any, onboarding_id: str) -> list[dict[str, Any]]:
    """One onboarding's rows as the driver returns them (times and JSON as stored)."""
    cursor = connection.execute(
        _sql(connection, f"SELECT {', '.join(COLUMNS)} FROM transitions WHERE onboarding_id = ? "
             "ORDER BY seq"),
        (onboarding_id,),
    )  # fmt: skip
    return [dict(zip(COLUMNS, row, strict=True)) for row in cursor.fetchall()]


def rechain(onboarding_id: str, rows: list[dict[str, Any]]) -> str:
    """Recompute every row's digest in order with :mod:`workflow.core.audit_chain` (what anyone who can
    write the database can do); returns the new head."""
    import json

    from workflow.core.audit_chain import GENESIS, row_digest

    previous = GENESIS
    for row in rows:
        at = row["at"] if isinstance(row["at"], datetime) else datetime.fromisoformat(row["at"])
        details = json.loads(row["details"]) if isinstance(row["details"], str) else row["details"]
        previous = row["digest"] = row_digest(
            onboarding_id, row["seq"], row["trigger"], row["from_state"], row["to_state"],
            row["actor"], at, row["reason"], row["request_id"], details, row["profile_id"],
            row["batch_id"], previous,
        )  # fmt: skip
    return previous


def write_rows(connection: Any, rows: list[dict[str, Any]]) -> bool:
    """Write ``rows`` over the stored ones as an attacker would, and commit.

    SQLite: ``INSERT OR REPLACE`` (no UPDATE or DELETE trigger fires); when the database
    refuses it, drop the log's triggers, write, and create them again from their own stored
    SQL, so they look untouched. PostgreSQL: with ``session_replication_role = replica`` no
    trigger fires. Returns whether the triggers had to be dropped.
    """
    import json

    sqlite = type(connection).__module__.startswith("sqlite3")
    values = [
        tuple(json.dumps(r[c]) if c == "details" and not isinstance(r[c], str | None) else r[c]
              for c in COLUMNS)
        for r in rows
    ]  # fmt: skip
    marks = ", ".join("?" * len(COLUMNS))
    if not sqlite:
        from psycopg.types.json import Json

        connection.execute("SET session_replication_role = replica")
        for row in rows:
            connection.execute(
                "UPDATE transitions SET onboarding_id = %s, seq = %s, actor = %s, reason = %s, "
                "digest = %s, details = %s WHERE id = %s",
                (row["onboarding_id"], row["seq"], row["actor"], row["reason"], row["digest"],
                 Json(row["details"]), row["id"]),
            )  # fmt: skip
        connection.execute("SET session_replication_role = DEFAULT")
        connection.commit()
        return False
    replace = f"INSERT OR REPLACE INTO transitions ({', '.join(COLUMNS)}) VALUES ({marks})"
    try:
        connection.executemany(replace, values)
        connection.commit()
        return False
    except sqlite3.IntegrityError:
        connection.rollback()
    saved = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'transitions'"
    ).fetchall()
    for name, _ in saved:
        connection.execute(f"DROP TRIGGER {name}")
    connection.executemany(replace, values)
    for _, sql in saved:
        connection.execute(sql)
    connection.commit()
    return True


def set_head(connection: Any, onboarding_id: str, **columns: Any) -> None:
    """Set checkpoint columns (no trigger guards ``onboardings``) and commit."""
    names = ", ".join(f"{name} = ?" for name in columns)
    connection.execute(
        _sql(connection, f"UPDATE onboardings SET {names} WHERE id = ?"),
        (*columns.values(), onboarding_id),
    )
    connection.commit()
