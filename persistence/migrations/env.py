"""Alembic environment: uses the connection handed over by ``persistence.migrate``."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

import persistence.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from persistence.partial_indexes import declare_postgresql_predicates

config = context.config
target_metadata = SQLModel.metadata


def _configure(connection: Any) -> None:
    if connection.dialect.name == "postgresql":
        declare_postgresql_predicates(target_metadata)  # what autogenerate compares there
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section) or {},
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()


run()
