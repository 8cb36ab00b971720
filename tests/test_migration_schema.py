"""The migrations build the schema the models declare: Alembic's autogenerate comparison of a
database upgraded to the head (from empty) with the models' metadata finds nothing to change.

What the comparison leaves out is checked beside it: the predicate of the partial index. The
audit log's triggers are not in the metadata; ``persistence.guards`` and its tests own them.
Server defaults are not compared: migrations that add a NOT NULL column to existing rows give
it one (``server_default``) where the model gives a Python default.
"""

from __future__ import annotations

import warnings
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Index, inspect
from sqlalchemy.exc import SAWarning
from sqlmodel import SQLModel

import persistence.models
import persistence.presence  # (registers the workers table)
from persistence.db import make_engine
from persistence.migrate import HEAD, current_revision

#: Indexes on an expression written per dialect (``last_error``'s code), made by migration 0009
#: alone: autogenerate cannot compare them, so their presence is checked by name.
EXPRESSION_INDEXES = {"ix_onboardings_paused_code", "ix_onboardings_code"}
#: PostgreSQL's alone (migration 0011: key prefixes under any collation); checked by name there.
POSTGRES_INDEXES = {"ix_onboardings_key_pattern"}


def _compared(obj: Any, name: str | None, kind: str, reflected: bool, other: Any) -> bool:
    return not (kind == "index" and name in EXPRESSION_INDEXES | POSTGRES_INDEXES)


def _differences(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        assert current_revision(engine) == HEAD
        with engine.connect() as connection, warnings.catch_warnings():
            # SQLite's reflection skips expression indexes with a warning: they are excluded.
            warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
            options = {"compare_type": True, "include_object": _compared}
            context = MigrationContext.configure(connection, opts=options)
            return list(compare_metadata(context, SQLModel.metadata))
    finally:
        engine.dispose()


def test_the_expression_indexes_exist(database_url_for_test: str) -> None:
    """The indexes the comparison leaves out are there, by name."""
    engine = make_engine(database_url_for_test)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
            names = {i["name"] for i in inspect(engine).get_indexes("onboardings")}
        if engine.dialect.name == "sqlite":  # reflection skips them: read the catalogue
            with engine.connect() as connection:
                rows = connection.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'index'"
                )
                names |= {row[0] for row in rows}
        assert names >= EXPRESSION_INDEXES
        if engine.dialect.name == "postgresql":
            assert names >= POSTGRES_INDEXES
    finally:
        engine.dispose()


def test_the_migrated_schema_is_the_models_schema(database_url_for_test: str) -> None:
    """No table, column, type, nullability, index or unique constraint differs."""
    assert _differences(database_url_for_test) == []


def _where(index: Index | dict[str, Any], dialect: str) -> str | None:
    options = index.dialect_options if isinstance(index, Index) else index
    if isinstance(index, Index):
        where = options[dialect].get("where")
    else:
        where = (options.get("dialect_options") or {}).get(f"{dialect}_where")
    if where is None:
        return None
    # PostgreSQL writes each term in parentheses: compare the words alone
    return " ".join(str(where).replace("(", " ").replace(")", " ").split()).lower()


def test_partial_indexes_keep_their_predicate(database_url_for_test: str) -> None:
    """Autogenerate compares index columns only: each partial index's WHERE is checked here."""
    engine = make_engine(database_url_for_test)
    dialect = engine.dialect.name
    try:
        declared = {
            index.name: _where(index, dialect)
            for table in SQLModel.metadata.tables.values()
            for index in table.indexes
            if _where(index, dialect) is not None
        }
        assert declared == {
            "ix_onboardings_unfinished": "finished_at is null",
            "ix_onboardings_leased": "lease_owner is not null and finished_at is null",
            "ix_transitions_batch": "batch_id is not null",
        }
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
            reflected = {
                name: _where(found, dialect)
                for table in ("onboardings", "transitions")
                for found in inspect(engine).get_indexes(table)
                for name in declared
                if found["name"] == name
            }
        assert reflected == declared
    finally:
        engine.dispose()


def test_the_models_module_declares_the_read_indexes() -> None:
    """The operator reads' indexes (migration 0004) are part of the models, so a schema made
    from the metadata alone has them too."""
    names = {index.name for index in persistence.models.OnboardingRow.__table__.indexes}  # type: ignore[attr-defined]
    assert {"ix_onboardings_unfinished", "ix_onboardings_created"} <= names
