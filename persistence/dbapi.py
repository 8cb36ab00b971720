"""The DB-API drivers themselves (``sqlite3``, ``psycopg``), without SQLAlchemy, for fast reads.

Why: the operator read commands (``list``, ``show``, ``history``, ``stuck``, ``export``,
``workers``) must answer quickly, start-up included; importing SQLAlchemy alone takes 120-180 ms,
more than a page of ``list`` or ``stuck --summary`` may cost in all. They read through
:class:`Database` and :mod:`persistence.reader`; everything that writes goes through
:class:`~persistence.store.SqlStore`, whose tables and migrations define the schema read here.

Statements are written once with ``:name`` parameters (sqlite3's style) and rewritten to
psycopg's ``%(name)s``. Rows come back as dictionaries with the values SqlStore returns: aware
UTC datetimes, JSON as Python values, real booleans, decoded by :func:`decode` after the
column kinds of the table metadata (:mod:`persistence.columns`). Driver errors become
:class:`~workflow.ports.StoreError` naming the read that failed and the database (password
masked), never a statement or its parameters.
"""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from persistence.columns import ALIASES, KINDS
from workflow.ports import StoreError, as_utc

__all__ = ["Database", "Location", "decode", "locate"]

#: How SQLAlchemy stores a datetime in SQLite (UTC, always six decimals, so text order is
#: time order): parameters compared with stored times must be written the same way.
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
_PARAMETER = re.compile(r"(?<!:):([A-Za-z_]\w*)")
_names = itertools.count()


def _time(value: Any) -> datetime:
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


_BY_KIND: Final[dict[str, Callable[[Any], Any]]] = {"time": _time, "json": _json, "boolean": bool}
_DECODERS: Final = {name: _BY_KIND[kind] for name, kind in {**KINDS, **ALIASES}.items()}


def decode(row: Mapping[str, Any]) -> dict[str, Any]:
    """A driver row as SqlStore's values: aware UTC times, JSON decoded, real booleans."""
    values = dict(row)
    for name, value in values.items():
        if value is not None and (convert := _DECODERS.get(name)) is not None:
            values[name] = convert(value)
    return values


@dataclass(frozen=True)
class Location:
    """Where a database URL points: the backend, the SQLite file or the libpq URI, and the URL
    fit for messages (password masked)."""

    backend: str
    shown: str
    path: Path | None = None
    conninfo: str = ""


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def locate(url: str) -> Location:
    """Parse a database URL as SQLAlchemy would: ``sqlite:///relative.db``,
    ``sqlite:////absolute.db``, ``postgresql[+psycopg]://user:password@host:port/name``.

    Raises:
        StoreError: another backend (the read commands support SQLite and PostgreSQL).
    """
    from persistence.db import check_supported

    check_supported(url)  # raises, naming what is supported
    scheme, separator, rest = url.partition("://")
    dialect = scheme.partition("+")[0].lower()
    if separator and dialect == "sqlite":
        name = unquote(rest[1:].partition("?")[0]) if rest.startswith("/") else ""
        path = None if name in ("", ":memory:") else Path(name)
        return Location("sqlite", url, path=path)
    if separator and dialect in ("postgresql", "postgres"):
        return Location("postgresql", _masked(url), conninfo=f"postgresql://{rest}")
    raise StoreError(f"cannot read {_masked(url)}: check --db / ONBOARDING_DATABASE_URL")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


class Database:
    """One read-only connection (``PRAGMA query_only`` on SQLite, a read-only session on
    PostgreSQL). Opening it never creates a SQLite file.

    Raises:
        StoreError: the database cannot be opened or reached.
    """

    def __init__(self, location: Location) -> None:
        self.location = location
        self.postgres = location.backend == "postgresql"
        self._errors: tuple[type[Exception], ...] = (sqlite3.Error,)
        self._connection: Any = self._connect_postgres() if self.postgres else self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self.location.path is None:
            target, uri = ":memory:", False
        else:
            target, uri = f"file:{quote(str(self.location.path.resolve()))}?mode=rw", True
        try:
            connection = sqlite3.connect(target, uri=uri, timeout=10, check_same_thread=False)
            connection.execute("PRAGMA query_only = 1")
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot open the SQLite database {self.location.path} ({_first_line(exc)}): "
                "check --db / ONBOARDING_DATABASE_URL"
            ) from exc
        connection.row_factory = sqlite3.Row
        return connection

    def _connect_postgres(self) -> Any:
        import psycopg
        from psycopg.rows import dict_row

        self._errors = (psycopg.Error,)
        try:
            connection = psycopg.connect(
                self.location.conninfo, row_factory=dict_row, connect_timeout=10
            )
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to the database {self.location.shown} ({_first_line(exc)}): "
                "check --db / ONBOARDING_DATABASE_URL and that the database server is running "
                "there"
            ) from exc
        # Short reads: compiling them (JIT) takes longer than running them (0.7 s for stuck).
        connection.execute("SET jit = off")
        connection.commit()
        connection.read_only = True
        return connection

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------ values
    def when(self, moment: datetime) -> Any:
        """A time as a parameter compared with stored times."""
        utc = as_utc(moment)
        return utc.strftime(SQLITE_TIME) if not self.postgres else utc

    def json_field(self, column: str, field: str) -> str:
        """SQL for one text field of a JSON column (``NULL`` when absent)."""
        if self.postgres:
            return f"({column} ->> '{field}')"
        return f"json_extract({column}, '$.{field}')"

    # ----------------------------------------------------------------- queries
    def rows(
        self, what: str, sql: str, params: Mapping[str, Any] | None = None, *, stream: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Run a query; yield its rows decoded, as they come.

        Args:
            what: the read, for error messages ("list onboardings").
            stream: keep memory constant however many rows there are (a server-side cursor
                on PostgreSQL; sqlite3 always steps through its rows).

        Raises:
            StoreError: the database failed, naming ``what``.
        """
        if self.postgres:
            sql = _PARAMETER.sub(r"%(\1)s", sql)
        try:
            if self.postgres and stream:
                cursor = self._connection.cursor(name=f"onboarding_read_{next(_names)}")
                cursor.itersize = 2000
            else:
                cursor = self._connection.cursor()
            cursor.execute(sql, dict(params or {}))
            for row in cursor:
                yield decode(row)
            cursor.close()
        except self._errors as exc:
            raise StoreError(
                f"could not {what}: {_first_line(exc)} ({self.location.shown})"
            ) from exc

    def all(
        self, what: str, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Every row of a (small) query."""
        return list(self.rows(what, sql, params))

    def first(
        self, what: str, sql: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The first row, or ``None``."""
        return next(iter(self.all(what, sql, params)), None)

    def explain(
        self, sql: str, params: Mapping[str, Any] | None = None, *, prefer_indexes: bool = False
    ) -> list[str]:
        """The plan of a query, one line a step (``EXPLAIN QUERY PLAN`` / ``EXPLAIN``).

        Args:
            prefer_indexes: on PostgreSQL, plan as for a large table (sequential and bitmap
                scans off), so a small test table shows which index the query walks.
        """
        if not self.postgres:
            rows = self.all("explain a query", "EXPLAIN QUERY PLAN " + sql, params)
            return [str(row["detail"]) for row in rows]
        with self._connection.cursor() as cursor:
            for setting in ("enable_seqscan", "enable_bitmapscan"):
                cursor.execute(f"SET {setting} = {'off' if prefer_indexes else 'on'}")
        rows = self.all("explain a query", "EXPLAIN " + sql, params)
        return [str(row["QUERY PLAN"]) for row in rows]

    def revision(self) -> str | None:
        """The schema revision (``alembic_version``), ``None`` for an empty database."""
        exists = (
            "SELECT to_regclass('alembic_version') IS NOT NULL AS found"
            if self.postgres
            else "SELECT count(*) AS found FROM sqlite_master WHERE name = 'alembic_version'"
        )
        found = self.first("read the schema revision", exists)
        if not found or not found["found"]:
            return None
        row = self.first("read the schema revision", "SELECT version_num FROM alembic_version")
        return None if row is None else str(row["version_num"])
