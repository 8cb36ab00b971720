"""Composition for the CLI: global options, and the store, vault, client and engine they name."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from persistence.db import database_url, sqlite_path
from workflow.cli.application import app
from workflow.core.printable import printable

if TYPE_CHECKING:
    from persistence.reader import SqlReader
    from persistence.store import SqlStore
    from workflow.adapters.vault import FernetVault

# Everything heavier (SQLAlchemy, the engine, cryptography) loads inside the functions that
# use it, so '--help' and 'validate' start fast.

__all__ = [
    "ACTOR_MAX_LENGTH",
    "MAX_MINUTES",
    "MAX_ROWS",
    "MAX_SECONDS",
    "KeyWhenNeeded",
    "Settings",
    "checked_actor",
    "echo",
    "existing_vault",
    "fail",
    "finite",
    "missing_key_message",
    "open_reader",
    "open_store",
    "open_vault",
    "settings",
]


@dataclass
class Settings:
    """What the global options say."""

    db: str
    api_url: str | None
    api_key: str | None
    key_file: Path | None
    debug: bool = False


_settings = Settings(db=database_url(), api_url=None, api_key=None, key_file=None)


def _version(value: bool) -> None:
    """``--version``: print the installed version and stop."""
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"onboarding (sent-onboarding) {version('sent-onboarding')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("onboarding (sent-onboarding), version unknown (not installed)")
        raise typer.Exit()


@app.callback()
def main_options(
    db: Annotated[
        str | None,
        typer.Option(
            "--db", envvar="ONBOARDING_DATABASE_URL",
            help="SQLAlchemy URL of the database (default sqlite:///onboarding.db).",
        ),
    ] = None,
    api_url: Annotated[
        str | None, typer.Option("--api-url", envvar="SENT_BASE_URL", help="Sent API base URL.")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="SENT_DM_API_KEY", help="Sent API key.")
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file", envvar="ONBOARDING_SECRET_KEY_FILE",
            help="Key file encrypting secrets at rest, created 0600 when missing "
            "(default: beside the SQLite database, <db>.key; required for PostgreSQL "
            "unless ONBOARDING_SECRET_KEY is set).",
        ),
    ] = None,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", envvar="ONBOARDING_DEBUG", help="Show tracebacks instead of one-line errors."
        ),
    ] = False,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:  # fmt: skip
    """Durable onboarding of Sent sender profiles."""
    _settings.db = database_url(db)
    _settings.api_url = api_url
    _settings.api_key = api_key
    _settings.key_file = key_file
    _settings.debug = debug


#: The audit log's ``actor`` column holds this many characters.
ACTOR_MAX_LENGTH = 128
#: The largest time options take (ten years, as ``--older-than``'s 3650d), in their units.
MAX_MINUTES = 3650 * 24 * 60
MAX_SECONDS = 3650 * 24 * 3600
#: The most rows one page or group shows (``list --limit 0`` shows all of them).
MAX_ROWS = 1_000_000


def finite(value: float | None) -> float | None:
    """Option callback beside ``min``/``max``: ``nan``, which passes any range, is refused."""
    if value is not None and math.isnan(value):
        raise typer.BadParameter("nan is not a number")
    return value


def checked_actor(value: str) -> str:
    """``--actor``: who acts, as the audit log keeps it (not empty, at most 128 characters)."""
    if not value.strip():
        raise typer.BadParameter("is empty: name who acts (kept in the audit log)")
    if len(value) > ACTOR_MAX_LENGTH:
        raise typer.BadParameter(
            f"is {len(value)} characters long; the audit log keeps at most {ACTOR_MAX_LENGTH}"
        )
    return value


def settings() -> Settings:
    """The parsed global options."""
    return _settings


def echo(line: str, *, err: bool = False) -> None:
    """Print a line for a person, its control characters escaped: a line holding text from
    Sent, an operator or a spec stays one inert line (:func:`workflow.core.printable.printable`)."""
    typer.echo(printable(line), err=err)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error for a person (one line, control characters escaped) and return the
    exit to raise."""
    typer.secho(f"error: {printable(message)}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def open_store(*, create: bool = False, write: bool = False) -> SqlStore:
    """The store for ``--db``, refusing a schema this code cannot use.

    Args:
        create: make a missing SQLite file and the schema of an empty database (``start``);
            otherwise a missing SQLite file is an error, not silently created empty.
        write: check now that the database accepts writes (long-running writers).
    """
    from persistence.db import check_writable, make_engine
    from persistence.migrate import current_revision, ensure_current, upgrade
    from persistence.store import SqlStore

    path = sqlite_path(_settings.db)
    if not create and path is not None and not path.exists():
        raise _missing(path)
    engine = make_engine(_settings.db)
    if create and current_revision(engine) is None:
        upgrade(engine)
    ensure_current(engine)
    if write:
        check_writable(engine)
    return SqlStore(engine)


def _missing(path: Path) -> typer.Exit:
    return fail(
        f"database file {path} does not exist: create it with 'onboarding db upgrade' "
        "(or 'onboarding start SPECS'), or point --db / ONBOARDING_DATABASE_URL at yours"
    )


def open_reader() -> SqlReader:
    """The read path for ``--db``: the DB-API driver without SQLAlchemy (read commands start
    fast), on a schema this code knows. Never creates a missing SQLite file.

    Raises:
        SchemaOutdatedError: the schema is older, newer or unknown.
        StoreError: the database cannot be opened or reached.
    """
    from persistence.dbapi import Database, locate
    from persistence.migrate import check_revision
    from persistence.reader import SqlReader

    location = locate(_settings.db)
    if location.path is not None and not location.path.exists():
        raise _missing(location.path)
    database = Database(location)
    try:
        check_revision(database.revision())
    except BaseException:
        database.close()
        raise
    return SqlReader(database)


def missing_key_message() -> str:
    """What to do when a server database has no secret key configured."""
    return (
        "a PostgreSQL database needs a secret key shared by every process that writes to it "
        "(it seals secrets and anchors the audit log): set ONBOARDING_SECRET_KEY or pass "
        "--key-file (ONBOARDING_SECRET_KEY_FILE)"
    )


def open_vault(
    *, create: bool = True, announce: Callable[[str], None] | None = None
) -> FernetVault:
    """The secret key: ``ONBOARDING_SECRET_KEY``, else ``--key-file``, else the key file
    beside the SQLite database (created 0600 when missing, and announced).

    Every command that writes the audit log needs it: it anchors what is written (and seals
    secrets). Without one for a server database, or (``create`` false) when the key file is
    missing, the command stops with one line naming the settings.

    Args:
        create: make a missing key file (``start``, ``worker``); otherwise refuse, since the
            log is anchored with the key that file held.
        announce: where the one line saying a key file was created goes (stderr by default).
    """
    from workflow.core.errors import SecretUnavailableError

    try:
        return _vault(create, announce)
    except SecretUnavailableError as exc:
        raise fail(str(exc)) from None


def _vault(create: bool, announce: Callable[[str], None] | None) -> FernetVault:
    from workflow.adapters.vault import DEFAULT_KEY_FILE, FernetVault, default_key_file
    from workflow.core.errors import SecretUnavailableError

    vault = existing_vault()
    if vault is not None:
        return vault
    path = _settings.key_file or default_key_file(_settings.db)
    if path is None:
        raise SecretUnavailableError(missing_key_message())
    if not create:
        raise SecretUnavailableError(
            f"no secret key: the key file {path} does not exist. Writing the audit log needs "
            "the key it is anchored with, the one 'start' created beside the database: restore "
            "it, or name it with --key-file or ONBOARDING_SECRET_KEY"
        )
    if _settings.key_file is None and DEFAULT_KEY_FILE.exists():
        # The old default lived in the working directory; a new key would orphan its secrets.
        raise SecretUnavailableError(
            f"found {DEFAULT_KEY_FILE} in the working directory, the old default key file: "
            f"move it to {path} (beside the database) or pass --key-file {DEFAULT_KEY_FILE}"
        )
    vault, created = FernetVault.from_key_file(path)
    if created:
        message = f"created secret key file {path}: keep it with the database"
        (announce or (lambda line: echo(line, err=True)))(message)
    return vault


class KeyWhenNeeded:
    """The secret key of an operator action, read when the action first writes: one that does
    not apply, or a selection that matches nothing, needs no key. Without one, the write
    raises ``SecretUnavailableError`` naming the settings (one line from the CLI)."""

    def __init__(self) -> None:
        self._vault: FernetVault | None = None

    def _held(self) -> FernetVault:
        if self._vault is None:
            self._vault = _vault(False, None)
        return self._vault

    def seal(self, values: dict[str, str]) -> bytes:
        """Encrypt secrets (:meth:`FernetVault.seal`)."""
        return self._held().seal(values)

    def open(self, onboarding_id: str, blob: bytes | None) -> dict[str, str]:
        """Decrypt secrets (:meth:`FernetVault.open`)."""
        return self._held().open(onboarding_id, blob)

    def fingerprint(self, values: dict[str, str]) -> str:
        """The keyed fingerprint of secrets (:meth:`FernetVault.fingerprint`)."""
        return self._held().fingerprint(values)

    def callback_token(self, onboarding_id: str) -> str:
        """An onboarding's callback token (:meth:`FernetVault.callback_token`)."""
        return self._held().callback_token(onboarding_id)

    def check_callback_token(self, onboarding_id: str, token: str) -> bool:
        """Whether a token is the onboarding's (:meth:`FernetVault.check_callback_token`)."""
        return self._held().check_callback_token(onboarding_id, token)

    def anchor(self, onboarding_id: str, seq: int, head: str, previous: str) -> str:
        """The anchor of an audit chain head (:meth:`FernetVault.anchor`)."""
        return self._held().anchor(onboarding_id, seq, head, previous)


def existing_vault() -> FernetVault | None:
    """The secret key if one is set or its key file exists (never creates one); else ``None``.

    Raises:
        SecretUnavailableError: the key set is not a valid key.
    """
    from workflow.adapters.vault import FernetVault, default_key_file

    if os.environ.get("ONBOARDING_SECRET_KEY"):
        return FernetVault.from_environment()
    path = _settings.key_file or default_key_file(_settings.db)
    if path is None or not path.exists():
        return None
    return FernetVault.from_key_file(path, create=False)[0]
