"""Card data and WhatsApp tokens: encrypted at rest, sent once, deleted, never logged."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import CARD_NUMBER, CVC, WHATSAPP_TOKEN, Harness
from workflow.adapters.vault import FernetVault
from workflow.cli import app


def _secret_bytes() -> list[bytes]:
    return [
        CARD_NUMBER.encode(),
        WHATSAPP_TOKEN.encode(),
        f'"cvc": "{CVC}"'.encode(),
        f'"cvc":"{CVC}"'.encode(),
    ]


def _database_bytes(harness: Harness) -> bytes:
    path = Path(harness.store.engine.url.database or "")
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


@pytest.mark.parametrize("database_url_for_test", ["sqlite"], indirect=True)
def test_no_secret_reaches_the_database_logs_or_audit_export(
    harness: Harness, secret_spec: dict[str, Any], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """After a full run the database file, the logs and the export hold no card data or token."""
    caplog.set_level(logging.DEBUG)
    onboarding = harness.start(secret_spec)
    blob = harness.store.read_secret(onboarding)
    assert blob is not None
    assert harness.vault.open(onboarding, blob)["whatsapp_access_token"] == WHATSAPP_TOKEN
    assert not any(s in _database_bytes(harness) for s in _secret_bytes())  # encrypted at rest
    harness.run()
    row = harness.store.get(onboarding)
    assert row.state == "submitted"
    assert harness.store.read_secret(onboarding) is None  # deleted once sent
    created = harness.store.history(onboarding)[1]
    assert created.details == {
        "profile_id": row.profile_id, "payment_details_sent": True, "card_last4": CARD_NUMBER[-4:],
        "whatsapp_access_token_sent": True,
    }  # fmt: skip
    assert harness.sandbox.snapshot()["profiles"][0]["payments_forwarded"] == 1

    harness.store.engine.dispose()
    export = CliRunner().invoke(app, ["--db", str(harness.store.engine.url), "export"])
    assert export.exit_code == 0, export.output
    assert row.profile_id in export.output
    for text in (export.output, caplog.text):
        for secret in _secret_bytes():
            assert secret.decode() not in text
    database = _database_bytes(harness)
    for secret in _secret_bytes():
        assert secret not in database


def test_vault_key_file_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A generated key file is readable by its owner only, and reused next time."""
    monkeypatch.delenv("ONBOARDING_SECRET_KEY", raising=False)
    path = tmp_path / "onboarding.key"
    vault = FernetVault.from_environment(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    sealed = vault.seal({"x": "y"})
    assert FernetVault.from_environment(path).open("o", sealed) == {"x": "y"}


@pytest.mark.parametrize("database_url_for_test", ["sqlite"], indirect=True)
def test_unreadable_secret_pauses_the_create_step(
    harness: Harness, secret_spec: dict[str, Any]
) -> None:
    """With another key the create step cannot read the card: it pauses and says why."""
    onboarding = harness.start(secret_spec)
    harness.executor.vault = FernetVault.generate()
    harness.run()
    row = harness.store.get(onboarding)
    assert (row.state, row.paused_from) == ("needs_attention", "pending")
    assert row.last_error is not None
    assert row.last_error["code"] == "SECRET_UNAVAILABLE"
    assert "key" in row.last_error["reason"]
    assert harness.sent_profiles() == []
