"""Statements compiled once and run on the DB-API cursor: the worker's hot path.

Why here and nowhere else: a step commits a handful of small statements, and SQLAlchemy's
execution machinery (connection and transaction objects, the compiled-cache lookup, the
execution context, result metadata) costs more than the driver does for each of them;
``benchmarks/store_ops.py`` measures a worker's commit at about half the time this way. The
whole-checkpoint commit (:mod:`persistence.commits`), the claim (:mod:`persistence.claims`) and
the read of the secrets a step sends (``SqlStore.read_secret``) run here; every other statement
runs through SQLAlchemy connections.

The statements are the same Core statements, compiled once per dialect through SQLAlchemy's
public API (``compile()``, ``SQLCompiler.string``, ``positiontup`` and ``binds``); their
parameters go through the bind processors of the column types (``TypeEngine.dialect_impl(
dialect).bind_processor(dialect)``), so what is stored is what the Core path stores, and a value
read back goes through the type's result processor.

Driver errors are wrapped as SQLAlchemy's ``DBAPIError`` subclasses (without statement or
parameters), so callers handle them exactly as the Core path's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Final

from sqlalchemy import Column
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError, StatementError

__all__ = ["Prepared", "result_processor", "transaction"]


class Prepared:
    """One statement compiled for one dialect with a fixed set of parameter names.

    Args:
        statement: a Core statement (``insert``, ``update``, ``select``) with bound parameters.
        dialect: the engine's dialect.
        keys: for an ``INSERT`` or ``UPDATE`` without explicit values, the columns given.
    """

    __slots__ = ("_defaults", "_order", "_processors", "sql")

    def __init__(self, statement: Any, dialect: Dialect, keys: Sequence[str] | None = None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys else None)
        self.sql: Final[str] = compiled.string
        self._order: tuple[str, ...] | None = (
            tuple(compiled.positiontup) if compiled.positiontup is not None else None
        )
        # The processors SQLAlchemy applies before handing a value to the driver.
        self._processors: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self._processors[name] = process
        # Values written into the statement itself (``version + 1``) travel as parameters too.
        self._defaults: dict[str, Any] = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }

    def params(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The driver's parameters (positional or named, as the dialect wants) for ``values``."""
        processors = self._processors
        if self._defaults:
            values = {**self._defaults, **values}
        if self._order is None:
            return {
                name: processors[name](value) if name in processors else value
                for name, value in values.items()
            }
        return tuple(
            processors[name](values[name]) if name in processors else values[name]
            for name in self._order
        )

    def converted(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """:meth:`params`, a value its type cannot store raised as SQLAlchemy reports it.

        Raises:
            sqlalchemy.exc.StatementError: a value cannot be converted for the driver.
        """
        try:
            return self.params(values)
        except Exception as exc:
            raise StatementError(
                f"a parameter cannot be stored: {type(exc).__name__}", None, None, exc,
                hide_parameters=True,
            ) from exc  # fmt: skip

    def execute(self, cursor: Any, values: Mapping[str, Any]) -> Any:
        """Run the statement once; returns the cursor (for ``RETURNING`` rows).

        Raises:
            sqlalchemy.exc.StatementError: a value cannot be converted for the driver.
        """
        cursor.execute(self.sql, self.converted(values))
        return cursor

    def execute_converted(
        self, cursor: Any, rows: Sequence[tuple[Any, ...] | dict[str, Any]]
    ) -> Any:
        """Run the statement for parameters :meth:`converted` made beforehand (one round trip
        where the driver batches); returns the cursor."""
        if len(rows) == 1:
            cursor.execute(self.sql, rows[0])
        elif rows:
            cursor.executemany(self.sql, rows)
        return cursor


def result_processor(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any]:
    """What turns a driver value of ``column`` into its Python value, as SQLAlchemy would."""
    process = column.type.dialect_impl(dialect).result_processor(dialect, None)
    return process if process is not None else (lambda value: value)


@contextmanager
def transaction(engine: Engine) -> Iterator[Any]:
    """A DB-API cursor in one transaction on a pooled connection: committed when the block
    ends, rolled back when it raises.

    Raises:
        sqlalchemy.exc.DBAPIError: the driver failed (wrapped as SQLAlchemy wraps it, with
            neither statement nor parameters); a broken connection is dropped from the pool.
    """
    dialect = engine.dialect
    try:
        connection = engine.raw_connection()
    except dialect.loaded_dbapi.Error as exc:  # cannot connect: as a Core connection reports it
        raise DBAPIError.instance(
            None, None, exc, dialect.loaded_dbapi.Error, hide_parameters=True,
            connection_invalidated=dialect.is_disconnect(exc, None, None), dialect=dialect,
        ) from exc  # fmt: skip
    cursor = None
    try:
        cursor = connection.cursor()
        yield cursor
        connection.commit()
    except dialect.loaded_dbapi.Error as exc:
        _rollback(connection)
        broken = dialect.is_disconnect(exc, connection.dbapi_connection, cursor)
        if broken:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            None, None, exc, dialect.loaded_dbapi.Error, hide_parameters=True,
            connection_invalidated=broken, dialect=dialect,
        ) from exc  # fmt: skip
    except BaseException:
        _rollback(connection)
        raise
    finally:
        if cursor is not None:
            with suppress(dialect.loaded_dbapi.Error):
                cursor.close()
        connection.close()


def _rollback(connection: Any) -> None:
    try:
        connection.rollback()
    except Exception:
        connection.invalidate()
