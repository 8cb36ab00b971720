"""Database engines: SQLite (the embedded default, WAL + busy timeout) or PostgreSQL (psycopg 3).

Those two are what the schema, the migrations and the read path are written and tested for;
any other URL is refused in one line naming them (:func:`check_supported`), before SQLAlchemy
would look for a driver that is not installed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

from workflow.ports import StoreError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# SQLAlchemy loads inside the functions: commands that only name a database (``--help``,
# ``validate``) do not pay for it.

__all__ = [
    "DEFAULT_URL",
    "SUPPORTED_URLS",
    "check_supported",
    "check_writable",
    "database_url",
    "make_engine",
    "safe_url",
    "sqlite_path",
]

DEFAULT_URL = "sqlite:///onboarding.db"
#: What a database URL may be, as messages say it.
SUPPORTED_URLS: Final = (
    "sqlite:///PATH (a file; the default is sqlite:///onboarding.db) or "
    "postgresql://USER@HOST:PORT/NAME (psycopg 3)"
)
#: (dialect, driver) pairs of a SQLAlchemy URL this code runs on ("": the dialect's default).
_SUPPORTED: Final = frozenset({("sqlite", ""), ("sqlite", "pysqlite"), ("postgresql", "psycopg")})


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else ``ONBOARDING_DATABASE_URL``, else ``onboarding.db``.

    ``postgresql://`` (and ``postgres://``) mean psycopg 3, the driver this package installs.
    """
    chosen = url or os.environ.get("ONBOARDING_DATABASE_URL") or DEFAULT_URL
    for prefix in ("postgresql://", "postgres://"):
        if chosen.startswith(prefix):
            chosen = "postgresql+psycopg://" + chosen.removeprefix(prefix)
    return chosen


def _masked(url: str) -> str:
    """``url`` with any password masked, without SQLAlchemy (which may not parse it)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
        return urlunsplit(parts._replace(netloc=netloc + (f":{parts.port}" if parts.port else "")))
    except ValueError:  # a port that is not a number: show the scheme alone
        return url.partition("://")[0] + "://…"


def check_supported(url: str | None = None) -> str:
    """The URL to use (:func:`database_url`), if it names SQLite or PostgreSQL through psycopg.

    Raises:
        StoreError: another database or driver (MySQL, ``postgresql+psycopg2``), or no URL at
            all; the message names the URL (password masked) and what is supported.
    """
    resolved = database_url(url)
    scheme, separator, _ = resolved.partition("://")
    dialect, _, driver = scheme.lower().partition("+")
    if not separator or (dialect, driver) not in _SUPPORTED:
        raise StoreError(
            f"{_masked(resolved)} is not a supported database URL: use {SUPPORTED_URLS}; "
            "check --db / ONBOARDING_DATABASE_URL"
        )
    return resolved


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite URL names, or ``None`` (another backend, or an in-memory database)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(database_url(url))
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def safe_url(url: str) -> str:
    """``url`` with its password masked, fit for messages and logs."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(database_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the CLI, the callback receiver) work while the worker writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA cache_size=-1024")
    cursor.close()


def _private_file(path: Path) -> Any:
    """A ``do_connect`` hook creating the SQLite file with mode 0600 before SQLite would create
    it with 0644: it holds specs (personal data). SQLite gives its ``-wal``, ``-shm`` and
    ``-journal`` files the database file's mode."""

    def create(*_args: Any) -> None:
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError:  # it exists, or cannot be made: SQLite opens it, or says why not
            return
        os.fchmod(descriptor, 0o600)  # whatever the umask made of it
        os.close(descriptor)

    return create


def make_engine(url: str | None = None, *, pool_size: int = 10) -> Engine:
    """An engine for ``url`` (see :func:`database_url`), tuned for the backend.

    Statement parameters are never rendered into error messages (``hide_parameters``): they
    hold spec data, and database errors end up in logs and on operators' terminals. A SQLite
    file is created readable by its owner only (0600), on the first connection.

    Raises:
        StoreError: the URL names neither SQLite nor PostgreSQL (:func:`check_supported`).
    """
    from sqlalchemy import create_engine, event

    resolved = check_supported(url)
    path = sqlite_path(resolved)
    if resolved.startswith("sqlite"):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # SQLite takes one writer at a time, so a few connections serve any number of threads;
        # each connection costs memory (its page and statement caches).
        small = min(pool_size, 4)
        engine = create_engine(
            resolved, connect_args={"check_same_thread": False, "timeout": 10}, pool_size=small,
            max_overflow=small, pool_timeout=60, hide_parameters=True,
        )  # fmt: skip
        event.listen(engine, "connect", _sqlite_pragmas)
        if path is not None and engine.url.query.get("uri") != "true":
            # (a "file:" URI names its file in its own grammar, with its own open mode)
            event.listen(engine, "do_connect", _private_file(path))
        return engine
    from persistence.partial_indexes import declare_postgresql_predicates

    declare_postgresql_predicates()  # the models' partial indexes, as PostgreSQL declares them
    return create_engine(
        resolved, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size,
        hide_parameters=True,
    )  # fmt: skip


def check_writable(engine: Engine) -> None:
    """Write to the database and roll back, so a read-only database fails now, not mid-step.

    Raises:
        sqlalchemy.exc.DBAPIError: the database refuses writes (read-only file or server).
    """
    from sqlalchemy import text

    with engine.connect() as connection:
        # A no-op update still takes the write lock: SQLite answers SQLITE_READONLY here.
        connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
        connection.rollback()
