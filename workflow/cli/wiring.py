"""Composition for the CLI: global options, and the store, vault, client and engine they name."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from persistence.db import database_url, make_engine
from persistence.migrate import ensure_current
from persistence.store import SqlStore
from workflow.cli import app
from workflow.errors import OnboardingError
from workflow.executor import EngineConfig
from workflow.secrets import FernetVault
from workflow.spec import OrganizationFacts

__all__ = ["Settings", "engine_config", "fail", "open_store", "settings"]


@dataclass
class Settings:
    """What the global options say."""

    db: str
    api_url: str | None
    api_key: str | None
    key_file: Path | None


_settings = Settings(db=database_url(), api_url=None, api_key=None, key_file=None)


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
            help="Key file encrypting secrets at rest, created 0600 (default onboarding.key).",
        ),
    ] = None,
) -> None:  # fmt: skip
    """Durable onboarding of Sent sender profiles."""
    _settings.db = database_url(db)
    _settings.api_url = api_url
    _settings.api_key = api_key
    _settings.key_file = key_file


def settings() -> Settings:
    """The parsed global options."""
    return _settings


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error for a person and return the exit to raise."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def open_store(*, check_schema: bool = True) -> SqlStore:
    """The store for ``--db``; refuses an out-of-date schema unless told not to check."""
    engine = make_engine(_settings.db)
    if check_schema:
        try:
            ensure_current(engine)
        except OnboardingError as exc:
            raise fail(str(exc)) from exc
    return SqlStore(engine)


def open_vault() -> FernetVault:
    """The secret vault (``ONBOARDING_SECRET_KEY`` or the key file)."""
    return FernetVault.from_environment(_settings.key_file)


def engine_config(**overrides: object) -> EngineConfig:
    """Engine settings from the environment, with overrides."""
    values: dict[str, object] = {
        "callback_base_url": os.environ.get(
            "ONBOARDING_CALLBACK_BASE_URL", "http://127.0.0.1:8780"
        ),
        "poll_interval": float(os.environ.get("ONBOARDING_POLL_INTERVAL", "5")),
        "completion_timeout": float(os.environ.get("ONBOARDING_COMPLETION_TIMEOUT", "3600")),
        "organization": OrganizationFacts(
            whatsapp_has_phone_number=os.environ.get("ONBOARDING_ORG_WHATSAPP_NUMBER", "1") == "1"
        ),
    }
    values.update(overrides)
    return EngineConfig(**values)  # type: ignore[arg-type]
