"""Logging for long-running commands: quiet libraries, our lines as text or JSON.

``configure_logging("INFO", "json")`` writes one JSON object per line: ``time``, ``level``,
``logger``, ``message``, plus ``onboarding_id``, ``key``, ``profile_id``, ``state`` and
``trigger`` when a call passes them through ``extra=``::

    log.info("advanced", extra={"onboarding_id": row.id, "key": row.key, "state": "brand"})

Text lines carry the same fields, appended as ``key=… id=… profile=… state=… trigger=…``.
A text record is one line whatever its message holds: control characters in the message and
the fields (Sent's words, an operator's reason) are escaped
(:func:`workflow.core.printable.printable`), and a traceback's lines below it are indented, so no
line a record writes can pass for another record. JSON lines escape them as JSON does.
Library loggers (APScheduler's ticks, httpx's per-request lines, ``transitions``' internals,
uvicorn, SQLAlchemy, Alembic) are held at WARNING whatever the level: at INFO they write
several lines a second while nothing happens.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final, Literal, TextIO

from workflow.core.printable import printable

__all__ = ["FIELDS", "LEVELS", "LIBRARY_LOGGERS", "configure_logging"]

#: ``extra=`` fields rendered in every format, with their short names in text lines.
FIELDS: Final = {
    "key": "key",
    "onboarding_id": "id",
    "profile_id": "profile",
    "state": "state",
    "trigger": "trigger",
}
LIBRARY_LOGGERS: Final = (
    "alembic", "apscheduler", "httpcore", "httpx", "sqlalchemy", "transitions", "uvicorn",
)  # fmt: skip
OUR_LOGGERS: Final = ("workflow", "persistence")
LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in FIELDS if getattr(record, name, None)}


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=… id=…``, one line, then an indented traceback."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The classic line with the onboarding fields appended, every value escaped."""
        record.message = printable(record.getMessage())
        record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        extra = " ".join(
            f"{FIELDS[name]}={printable(value)}" for name, value in _fields(record).items()
        )
        if extra:
            line = f"{line} {extra}"
        trace = self._trace(record)
        if not trace:
            return line
        # Indented: a line of an exception's message can never start like a record.
        lines = printable(trace, newlines=True).splitlines()
        return "\n".join([line, *(f"    {text}" for text in lines)])

    def _trace(self, record: logging.LogRecord) -> str:
        """The traceback and stack of ``record`` as :meth:`logging.Formatter.format` adds them."""
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        parts = [record.exc_text] if record.exc_text else []
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        return "\n".join(parts)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (tracebacks included as a string)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(
    level: str = "INFO",
    fmt: Literal["text", "json"] = "text",
    *,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send log records to ``stream`` (stderr) as text or JSON; returns the handler installed.

    Our loggers (``workflow``, ``persistence``) log at ``level``; library loggers at WARNING.
    Calling it again replaces the handler it installed before and nothing else.

    Raises:
        ValueError: an unknown level or format.
    """
    name = level.upper()
    if name not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be text or json, not {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler._onboarding = True  # type: ignore[attr-defined]  # marks the one we replace
    root = logging.getLogger()
    for previous in [h for h in root.handlers if getattr(h, "_onboarding", False)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)  # anything not named below: warnings and errors only
    for library in LIBRARY_LOGGERS:
        logging.getLogger(library).setLevel(logging.WARNING)
    for ours in OUR_LOGGERS:
        logging.getLogger(ours).setLevel(name)
    return handler
