"""The migrations build the schema the models declare: Alembic's autogenerate comparison of a
database upgraded to the head (from empty) with the models' metadata finds nothing to change.

What the comparison leaves out is checked beside it: the predicate of the partial index. The
audit log's triggers are not in the metadata; ``persistence.guards`` and its tests own them.
Server defaults are not compared: migrations that add a NOT NULL column to existing rows give
it one (``server_default``) where the model gives a Python default.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Index, inspect
from sqlmodel import SQLModel

import persistence.models
import persistence.presence  # (registers the workers table)
from persistence.db import make_engine
from persistence.migrate import HEAD, current_revision


def _differences(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        assert current_revision(engine) == HEAD
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, SQLModel.metadata))
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
    return None if where is None else " ".join(str(where).strip("()").split()).lower()


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
        assert declared == {"ix_onboardings_unfinished": "finished_at is null"}
        reflected = {
            name: _where(found, dialect)
            for name in declared
            for found in inspect(engine).get_indexes("onboardings")
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
