"""What the long-running commands share: their log options, a port check, the Sent revision."""

from __future__ import annotations

import errno
import socket
from typing import Annotated

import typer

from workflow.cli.wiring import fail
from workflow.following.logs import LEVELS, configure_logging

__all__ = [
    "MAX_CONCURRENCY",
    "LogFormat",
    "LogLevel",
    "check_port_free",
    "checked_revision",
    "setup_logging",
]


#: Onboardings one worker runs at once: each takes a thread and, while it commits, a connection.
MAX_CONCURRENCY = 1000


def _level(value: str) -> str:
    if value.upper() not in LEVELS:
        raise typer.BadParameter(f"{value!r} is not a level; use one of {', '.join(LEVELS)}")
    return value.upper()


def _format(value: str) -> str:
    if value not in ("text", "json"):
        raise typer.BadParameter(f"{value!r} is not a format; use text or json")
    return value


LogLevel = Annotated[
    str,
    typer.Option(
        "--log-level", envvar="ONBOARDING_LOG_LEVEL", callback=_level,
        help=f"Our log lines from this level ({', '.join(LEVELS)}); libraries log warnings only.",
    ),
]  # fmt: skip
LogFormat = Annotated[
    str,
    typer.Option(
        "--log-format", envvar="ONBOARDING_LOG_FORMAT", callback=_format,
        help="text, or json (one object a line, with onboarding_id, key, profile_id, state).",
    ),
]  # fmt: skip


def setup_logging(level: str, fmt: str) -> None:
    """Configure logging for a long-running command from its options."""
    configure_logging(level, "json" if fmt == "json" else "text")


def checked_revision(value: str) -> str:
    """A ``--sent-api`` value, or one line naming the revisions."""
    from workflow.core.rules import check_revision

    try:
        return check_revision(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def check_port_free(host: str, port: int, what: str = "callback") -> None:
    """Fail now, in one line, when a port is taken (uvicorn would die in a thread)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise fail(
                f"{what} port {port} on {host} is already in use: stop what listens there "
                f"or pass another {'--port' if what == 'sandbox' else f'--{what}-port'}"
            ) from exc
