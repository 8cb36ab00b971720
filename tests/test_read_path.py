"""The read path: the DB-API driver without SQLAlchemy, and queries that indexes serve."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from persistence.db import sqlite_path
from persistence.dbapi import Database, locate
from persistence.reader import SqlReader, StuckQuery
from persistence.store import SqlStore
from workflow.core.errors import StoreError

HEAVY = ("sqlalchemy", "sqlmodel", "pydantic", "workflow.flows")
_PROBE = """
import sys
from workflow.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    print(sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "command",
    [
        ["stuck", "--summary"], ["stuck"], ["list"], ["list", "--json"], ["workers"],
        ["export"], ["history", "x"], ["show", "x"],
    ],
)  # fmt: skip
def test_read_commands_load_neither_sqlalchemy_nor_pydantic(
    database_url_for_test: str, command: list[str]
) -> None:
    """Start-up stays small: the read commands import no SQLAlchemy, SQLModel, pydantic or flow."""
    probe = _PROBE.format(heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", probe, "--db", database_url_for_test, *command],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.stderr.strip().splitlines()[-1] == "[]", result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///relative/onboarding.db", "sqlite:////absolute/onboarding.db",
        "sqlite:///with%20space.db", "sqlite:///x.db?timeout=3", "sqlite://", "sqlite:///:memory:",
    ],
)  # fmt: skip
def test_urls_name_the_same_sqlite_file_as_sqlalchemy(url: str) -> None:
    """locate() reads a SQLite URL as SQLAlchemy does (the store and the reader agree)."""
    assert locate(url).path == sqlite_path(url)


def test_other_backends_and_passwords_in_messages() -> None:
    """An unsupported scheme is refused naming --db; PostgreSQL passwords are masked."""
    with pytest.raises(StoreError, match="--db"):
        locate("mysql://app:pw@host/db")
    shown = locate("postgresql+psycopg://app:hunter2@db.example:5433/onboarding").shown
    assert "hunter2" not in shown
    assert shown == "postgresql+psycopg://app:***@db.example:5433/onboarding"


def _plan(url: str, sql: str, params: dict[str, Any]) -> str:
    with Database(locate(url)) as database:
        return "\n".join(database.explain(sql, params, prefer_indexes=True))


def test_stuck_and_list_pages_read_through_their_indexes(database_url_for_test: str) -> None:
    """stuck reads the partial index of unfinished rows; a list page walks (created_at, id)."""
    now = datetime.now(UTC)
    with SqlReader(Database(locate(database_url_for_test))) as reader:
        stuck_sql, stuck_params = reader.stuck_sql(StuckQuery(now, now, now))
        page_sql, page_params = reader.page_sql(after=(now, "x"), limit=50)
        state_sql, state_params = reader.page_sql(states=["pending"], after=(now, "x"), limit=50)
    stuck = _plan(database_url_for_test, stuck_sql, stuck_params)
    assert "ix_onboardings_unfinished" in stuck
    page = _plan(database_url_for_test, page_sql, page_params)
    assert "ix_onboardings_created" in page
    by_state = _plan(database_url_for_test, state_sql, state_params)
    assert "ix_onboardings_state_created" in by_state
    for plan in (page, by_state):
        assert "TEMP B-TREE" not in plan, plan
        assert "Sort" not in plan, plan


def test_the_claim_reads_the_next_attempt_index(
    store: SqlStore, database_url_for_test: str
) -> None:
    """The worker's claim (as the store sends it to the driver) is an index range on
    next_attempt_at."""
    assert store.claim("probe", datetime.now(UTC), 60, 10) == []  # the statement runs
    statement, parameters = store.claim_statement("probe", datetime.now(UTC), 60, 10)
    with store.engine.connect() as connection:
        if store.engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SET enable_seqscan = off")
            rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        else:
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        connection.rollback()
    plan = "\n".join(str(row[-1]) for row in rows)
    assert "ix_onboardings_next_attempt_at" in plan, plan
