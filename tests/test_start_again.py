"""Starting the same spec again is "already started", whatever happened to its secrets since."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from tests.cli_process import environment, run
from tests.conftest import CARD_NUMBER, CVC, WHATSAPP_TOKEN, Harness
from workflow.errors import SpecConflictError
from workflow.sandbox import OrganizationConfig, Sandbox, ServerThread
from workflow.secrets import FernetVault
from workflow.spec import parse_spec

OTHER_CARD = "5555555555554444"


def _other_card(raw: dict[str, Any]) -> dict[str, Any]:
    other = copy.deepcopy(raw)
    other["profile"]["payment_details"]["card_number"] = OTHER_CARD
    return other


def _stored_fingerprint(harness: Harness, onboarding: str) -> str | None:
    with harness.store.engine.connect() as connection:
        value = connection.execute(
            text("SELECT secrets_fingerprint FROM onboardings WHERE id = :id"), {"id": onboarding}
        ).scalar_one()
    return None if value is None else str(value)


def test_the_same_spec_is_already_started_after_its_secrets_were_sent(
    harness: Harness, secret_spec: dict[str, Any]
) -> None:
    """Once the create sent the card and token (and deleted them), the very same spec is a
    no-op; another card or another token is still refused with the amend hint."""
    onboarding = harness.start(secret_spec)
    harness.run()
    row = harness.store.get(onboarding)
    assert (row.state, row.has_secrets, harness.store.read_secret(onboarding)) == (
        "submitted", False, None,
    )  # fmt: skip
    assert harness.start(copy.deepcopy(secret_spec)) == onboarding
    assert harness.store.get(onboarding).version == row.version  # nothing was written
    other_token = copy.deepcopy(secret_spec)
    other_token["profile"]["whatsapp_business_account"]["access_token"] = "EAAanothertoken1234"
    for changed in (_other_card(secret_spec), other_token):
        with pytest.raises(SpecConflictError, match="other payment details") as caught:
            harness.start(changed)
        assert "amend it while" in str(caught.value)
        assert OTHER_CARD not in str(caught.value)


def test_the_secrets_fingerprint_is_keyed_and_holds_no_secret(
    harness: Harness, secret_spec: dict[str, Any]
) -> None:
    """What is kept is an HMAC under the vault's key: 64 hex digits, no card digit, not the
    plain SHA-256 of the secrets (guessable for a card number), different under another key."""
    onboarding = harness.start(secret_spec)
    stored = _stored_fingerprint(harness, onboarding)
    assert stored is not None
    assert len(stored) == 64
    assert set(stored) <= set("0123456789abcdef")
    secrets = parse_spec(secret_spec, today=harness.clock.now().date()).secret_values()
    canonical = json.dumps(secrets, sort_keys=True, separators=(",", ":"))
    for plain in (canonical, json.dumps(secrets), json.dumps(secrets, sort_keys=True)):
        assert stored != hashlib.sha256(plain.encode()).hexdigest()
    assert stored == harness.vault.fingerprint(secrets)
    assert stored != FernetVault.generate().fingerprint(secrets)
    for secret in (CARD_NUMBER, CARD_NUMBER[-4:] + CVC, WHATSAPP_TOKEN):
        assert secret not in stored


def test_a_spec_without_secrets_keeps_an_empty_fingerprint(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """A spec without secrets stores an empty fingerprint, comparable without the vault key:
    started again under a throwaway vault (a server database with no key), it is a no-op."""
    onboarding = harness.start(samples["demo-inherited"])
    assert _stored_fingerprint(harness, onboarding) == ""
    harness.run()
    other_vault = type(harness.ops)(harness.store, FernetVault.generate(), clock=harness.clock)
    spec = parse_spec(samples["demo-inherited"], today=harness.clock.now().date())
    assert other_vault.start(spec).id == onboarding


def test_an_amend_that_replaces_the_secrets_replaces_their_fingerprint(
    harness: Harness, secret_spec: dict[str, Any]
) -> None:
    """After an amend with a new card, the amended file is the one already started; the first
    file's card is now the other one."""
    harness.sandbox.state.organization = OrganizationConfig(
        has_whatsapp_account=False, completion_delay_seconds=0
    )
    raw = copy.deepcopy(secret_spec)
    raw["profile"].pop("whatsapp_business_account")  # refused at Sent: paused before the create
    onboarding = harness.start(raw)
    harness.run()
    assert harness.store.get(onboarding).state == "needs_attention"
    fixed = _other_card(raw)
    harness.ops.amend(
        onboarding, parse_spec(fixed, today=harness.clock.now().date()), actor="ops",
        reason="new card",
    )  # fmt: skip
    harness.sandbox.state.organization = OrganizationConfig(completion_delay_seconds=0)
    harness.ops.resume(onboarding, actor="ops", reason="account fixed")
    harness.run()
    assert harness.store.read_secret(onboarding) is None
    assert harness.start(copy.deepcopy(fixed)) == onboarding
    with pytest.raises(SpecConflictError, match="other payment details"):
        harness.start(raw)


def test_rows_stored_before_fingerprints_compare_as_before_then_accept_the_same_spec(
    harness: Harness, secret_spec: dict[str, Any]
) -> None:
    """A row without a fingerprint (stored before migration 0007) is compared with its sealed
    secrets while they are held; once sent, the same spec is already started."""
    onboarding = harness.start(secret_spec)
    with harness.store.engine.begin() as connection:
        connection.execute(text("UPDATE onboardings SET secrets_fingerprint = NULL"))
    with pytest.raises(SpecConflictError, match="other payment details"):
        harness.start(_other_card(secret_spec))
    assert harness.start(copy.deepcopy(secret_spec)) == onboarding
    harness.run()
    assert harness.store.read_secret(onboarding) is None
    assert _stored_fingerprint(harness, onboarding) is None
    assert harness.start(copy.deepcopy(secret_spec)) == onboarding


def test_start_worker_start_again_through_the_cli(
    tmp_path: Path, secret_spec: dict[str, Any]
) -> None:
    """`start good.yaml`, the worker sends the secrets, `start good.yaml` again: exit 0,
    "already started"; a file with another card: exit 1 naming the payment details."""
    box = Sandbox(OrganizationConfig(completion_delay_seconds=0.1))
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump([secret_spec]))
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump([_other_card(secret_spec)]))
    db = f"sqlite:///{tmp_path / 'onboarding.db'}"
    with ServerThread(box.app) as server:
        env = environment(
            SENT_BASE_URL=server.url, SENT_DM_API_KEY="sandbox-key",
            ONBOARDING_POLL_INTERVAL="0.2", ONBOARDING_CALLBACK_BASE_URL="http://127.0.0.1:9",
        )  # fmt: skip
        first = run("--db", db, "start", str(good), env=env, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        worked = run("--db", db, "worker", "--until-idle", env=env, cwd=tmp_path, timeout=120)
        assert worked.returncode == 0, worked.stderr
        again = run("--db", db, "start", str(good), env=env, cwd=tmp_path)
        refused = run("--db", db, "start", str(other), env=env, cwd=tmp_path)
    box.close()
    assert (again.returncode, again.stderr) == (0, ""), again.stderr
    assert again.stdout.strip().endswith("(submitted, already started)")
    assert refused.returncode == 1
    assert "other payment details or WhatsApp token" in refused.stderr
    assert OTHER_CARD not in refused.stderr + refused.stdout
    assert os.path.exists(tmp_path / "onboarding.db.key")


def test_the_fingerprint_migration_goes_both_ways(tmp_path: Path) -> None:
    """0007 adds the nullable column to a 0006 database and drops it on downgrade, keeping the
    onboardings table's other indexes."""
    from alembic import command
    from sqlalchemy import inspect

    from persistence.db import make_engine
    from persistence.migrate import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'migrate.db'}"
    config = alembic_config(url)
    command.upgrade(config, "0006")
    engine = make_engine(url)

    def columns() -> set[str]:
        return {c["name"] for c in inspect(engine).get_columns("onboardings")}

    indexes = {i["name"] for i in inspect(engine).get_indexes("onboardings")}
    assert "secrets_fingerprint" not in columns()
    upgrade(engine)
    assert "secrets_fingerprint" in columns()
    command.downgrade(config, "0006")
    assert "secrets_fingerprint" not in columns()
    assert {i["name"] for i in inspect(engine).get_indexes("onboardings")} == indexes
    engine.dispose()
