"""The partial indexes' PostgreSQL predicates, declared on the metadata once PostgreSQL is used.

Each partial index of :mod:`persistence.models` takes the same predicate on both databases, and
the models declare it for SQLite alone (``sqlite_where``): declaring a ``postgresql_where``
makes SQLAlchemy load its PostgreSQL dialect and its drivers' modules (about 2 MiB) to check the
argument, in every process importing the models, a worker on SQLite included. The PostgreSQL
predicate is copied from the SQLite one here, before the metadata is used with PostgreSQL:
by :func:`persistence.db.make_engine` for a PostgreSQL URL, before any ``create_all`` on
PostgreSQL, and by the migrations' environment (autogenerate) on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData

__all__ = ["declare_postgresql_predicates", "on_create"]


def declare_postgresql_predicates(metadata: MetaData | None = None) -> None:
    """Give every partial index of ``metadata`` (the models' by default) its SQLite predicate
    as its PostgreSQL one; an index with a PostgreSQL predicate of its own keeps it."""
    if metadata is None:
        from sqlmodel import SQLModel

        import persistence.models  # noqa: F401  (registers the tables)

        metadata = SQLModel.metadata
    for table in list(metadata.tables.values()):
        for index in table.indexes:
            where = index.dialect_kwargs.get("sqlite_where")
            if where is not None and index.dialect_kwargs.get("postgresql_where") is None:
                index.dialect_kwargs["postgresql_where"] = where


def on_create(target: MetaData, connection: Any, **_kw: Any) -> None:
    """The metadata's ``before_create`` hook: the predicates, when it creates on PostgreSQL."""
    if connection.dialect.name == "postgresql":
        declare_postgresql_predicates(target)
