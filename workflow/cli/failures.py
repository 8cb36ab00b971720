"""Expected failures as one line for a person: what went wrong and what to do about it.

:func:`explain` is the single translation from exceptions to messages; the ``onboarding``
entry point prints its line and exits 1 instead of showing a traceback (``--debug`` shows it).
Messages are built from the driver's own first line and our context, never from SQLAlchemy's
rendering of the statement, so no SQL and no parameter (spec data) reaches the terminal.
"""

from __future__ import annotations

import errno

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from persistence.db import safe_url, sqlite_path
from workflow.core.errors import OnboardingError

__all__ = ["explain"]


def _first_line(text: object) -> str:
    lines = str(text).strip().splitlines()
    return lines[0].strip() if lines else ""


def _sqlite(exc: DBAPIError, path: str) -> str | None:
    name = str(getattr(exc.orig, "sqlite_errorname", ""))
    reason = _first_line(exc.orig)
    if name.startswith("SQLITE_READONLY"):
        return (
            f"the SQLite database {path} is read-only ({reason}): make the file and its "
            "directory writable for this user, or choose another --db"
        )
    if name == "SQLITE_FULL" or name.startswith("SQLITE_IOERR"):
        return (
            f"cannot write the SQLite database {path} ({reason}): the disk may be full; free "
            "space there or choose another --db"
        )
    if name.startswith("SQLITE_CANTOPEN"):
        return (
            f"cannot open the SQLite database {path} ({reason}): check that its directory "
            "exists and is writable for this user, or choose another --db"
        )
    if name.startswith("SQLITE_NOTADB") or name.startswith("SQLITE_CORRUPT"):
        return f"{path} is not a usable SQLite database ({reason}): check --db"
    return None


def _database(exc: DBAPIError, db_url: str) -> str:
    path = sqlite_path(db_url)
    if path is not None:
        message = _sqlite(exc, str(path))
        if message is not None:
            return message
    reason = _first_line(exc.orig) or type(exc.orig).__name__
    where = safe_url(db_url)
    if exc.connection_invalidated or "connection" in reason.lower():
        return (
            f"cannot connect to the database {where} ({reason}): check --db / "
            "ONBOARDING_DATABASE_URL and that the database server is running there"
        )
    return f"the database {where} failed: {reason}"


def explain(exc: BaseException, db_url: str) -> str | None:
    """One line for an expected failure, or ``None`` when ``exc`` is a bug (show a traceback).

    Expected: our own errors (:class:`~workflow.core.errors.OnboardingError`), database errors
    (SQLAlchemy, with the driver's reason translated for SQLite and connection failures) and
    operating-system errors (files, ports).
    """
    cause = exc.__cause__
    if isinstance(exc, OnboardingError) and isinstance(cause, DBAPIError):
        # The store wraps database errors with which call failed; the cause says why.
        return f"{_first_line(exc).partition(': (')[0]}: {_database(cause, db_url)}"
    if isinstance(exc, OnboardingError):
        return _first_line(exc)
    if isinstance(exc, DBAPIError):
        return _database(exc, db_url)
    if isinstance(exc, SQLAlchemyError):
        return f"{_first_line(exc)}: check --db / ONBOARDING_DATABASE_URL ({safe_url(db_url)})"
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            hint = "check the path and its permissions"
        elif exc.errno == errno.ENOSPC:
            hint = "free disk space there"
        elif exc.errno in (errno.EEXIST, errno.ENOTDIR):
            hint = "a file stands where a directory is needed; check the path"
        else:
            hint = "check the path"
        return f"cannot use{where}: {exc.strerror or exc}: {hint}"
    return None
