"""The audit log is append-only in the database itself, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from persistence.migrate import alembic_config
from persistence.store import SqlStore
from tests.audit_helpers import log_of, started

REFUSED = "transitions are append-only"


def test_update_of_a_transition_is_refused(store: SqlStore) -> None:
    """A raw UPDATE of the audit log fails with the rule named and changes nothing."""
    onboarding_id = started(store, "k1")
    before = log_of(store, onboarding_id)
    with pytest.raises(DBAPIError, match=REFUSED), store.engine.begin() as connection:
        connection.execute(text("UPDATE transitions SET actor = 'mallory'"))
    assert log_of(store, onboarding_id) == before
    assert all(row["actor"] != "mallory" for row in before)


def test_delete_of_a_transition_is_refused(store: SqlStore) -> None:
    """A raw DELETE of the audit log fails with the rule named and removes nothing."""
    onboarding_id = started(store, "k1")
    before = log_of(store, onboarding_id)
    with pytest.raises(DBAPIError, match=REFUSED), store.engine.begin() as connection:
        connection.execute(
            text("DELETE FROM transitions WHERE onboarding_id = :id"), {"id": onboarding_id}
        )
    assert log_of(store, onboarding_id) == before
    assert len(before) == 2


def test_truncate_of_the_audit_log_is_refused_on_postgres(store: SqlStore) -> None:
    """PostgreSQL's TRUNCATE (which fires no row trigger) is refused as well."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    onboarding_id = started(store, "k1")
    with pytest.raises(DBAPIError, match=REFUSED), store.engine.begin() as connection:
        connection.execute(text("TRUNCATE transitions"))
    assert len(log_of(store, onboarding_id)) == 2


def test_inserting_and_operating_still_work(store: SqlStore) -> None:
    """The triggers refuse changes to rows, not new rows or checkpoint updates."""
    onboarding_id = started(store, "k1")
    assert [row["seq"] for row in log_of(store, onboarding_id)] == [1, 2]
    assert store.get(onboarding_id).audit_seq == 2


def test_downgrade_drops_the_triggers_and_upgrade_restores_them(store: SqlStore) -> None:
    """Migrating down to 0002 lets rows change again; migrating up refuses them once more."""
    from alembic import command

    onboarding_id = started(store, "k1")
    config = alembic_config(store.engine.url.render_as_string(hide_password=False))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE transitions SET reason = 'edited' WHERE seq = 2"))
    assert log_of(store, onboarding_id)[1]["reason"] == "edited"
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with pytest.raises(DBAPIError, match=REFUSED), store.engine.begin() as connection:
        connection.execute(text("UPDATE transitions SET reason = 'again' WHERE seq = 2"))
    assert log_of(store, onboarding_id)[1]["reason"] == "edited"


def test_dropping_the_tables_still_works(database_url_for_test: str) -> None:
    """Resetting a database by dropping its tables (as the test fixtures do) is not refused."""
    from sqlmodel import SQLModel

    from persistence.db import make_engine

    store = SqlStore(make_engine(database_url_for_test))
    started(store, "k1")
    with store.engine.begin() as connection:
        SQLModel.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    with store.engine.connect() as connection:
        names = set(store.engine.dialect.get_table_names(connection))
    store.engine.dispose()
    assert "transitions" not in names
