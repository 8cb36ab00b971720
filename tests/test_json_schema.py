"""The public JSON of every read command validates against docs/schema (JSON Schema 2020-12)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet
from jsonschema import Draft202012Validator

from persistence.store import SqlStore
from tests.cli_process import environment, run
from tests.conftest import SAMPLES
from workflow.core.spec import load_documents
from workflow.sandbox import FaultConfig, OrganizationConfig, Sandbox, ScriptedFault, ServerThread

SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "schema"
KINDS = (
    "onboarding", "transition", "attempt", "stuck", "stuck_group", "worker", "event",
    "audit_problem", "audit_summary", "subscriber", "batch", "console_user",
)  # fmt: skip


@dataclass
class Database:
    """A database after a worker run: every sample path, one paused by a 400, one cancelled,
    one started after the run (so overdue with no live worker)."""

    url: str
    env: dict[str, str]

    def lines(self, *args: str) -> list[dict[str, Any]]:
        result = run("--db", self.url, *args, env=self.env)
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Database:
    """The samples run once by 'onboarding worker --until-idle', then changed by an operator."""
    directory = tmp_path_factory.mktemp("schema")
    samples = {doc["key"]: doc for doc in load_documents(SAMPLES)}  # type: ignore[index]
    faults = FaultConfig(
        scripted=[ScriptedFault(method="POST", body_contains="Marketing EU", status=400)]
    )
    box = Sandbox(OrganizationConfig(completion_delay_seconds=0.1), faults)
    env = environment(
        ONBOARDING_SECRET_KEY=Fernet.generate_key().decode(), ONBOARDING_POLL_INTERVAL="0.2",
        ONBOARDING_CALLBACK_BASE_URL="http://127.0.0.1:9",
    )  # fmt: skip
    url = f"sqlite:///{directory / 'onboarding.db'}"
    specs = directory / "specs.yaml"
    specs.write_text(yaml.safe_dump(list(samples.values())))
    late = directory / "late.yaml"
    late.write_text(yaml.safe_dump([{**samples["demo-inherited"], "key": "late"}]))
    with ServerThread(box.app) as sent:
        api = ["--api-url", sent.url, "--api-key", "sandbox-key"]
        for args in (
            ["db", "upgrade"], ["start", str(specs)],
            [*api, "worker", "--until-idle", "--poll-interval", "0.05"],
            ["cancel", "--key-prefix", "demo-main-country", "--reason", "wrong country",
             "--actor", "alice", "--yes"],
            ["start", str(late)],
        ):  # fmt: skip
            result = run("--db", url, *args, env=env)
            assert result.returncode == 0, result.stderr
    box.close()
    store = SqlStore.from_url(url)  # a subscriber that has read nothing yet
    store.read_events("audit-feed", 1, datetime.now(UTC))
    store.engine.dispose()
    return Database(url, env)


def _validators() -> dict[str, Draft202012Validator]:
    found = {}
    for kind in KINDS:
        schema = json.loads((SCHEMAS / f"{kind}.json").read_text())
        Draft202012Validator.check_schema(schema)
        found[kind] = Draft202012Validator(
            schema, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
    return found


def test_every_object_kind_has_a_valid_schema() -> None:
    """docs/schema holds one draft 2020-12 schema per kind, each requiring schema_version 1."""
    assert sorted(p.stem for p in SCHEMAS.glob("*.json")) == sorted(KINDS)
    for kind, validator in _validators().items():
        assert validator.schema["properties"]["kind"] == {
            "const": kind, "description": "What the object is.",
        }  # fmt: skip
        assert validator.schema["properties"]["schema_version"]["const"] == 1


COMMANDS = [
    ["list", "--json"],
    ["list", "--json", "--internals"],
    ["show", "demo-own-brand-tcr", "--json"],
    ["show", "demo-own-brand-tcr", "--json", "--internals"],
    ["history", "demo-main-country", "--json", "--attempts"],
    ["history", "demo-own-brand-tcr", "--json", "--attempts", "--internals"],
    ["stuck", "--json", "--overdue-after", "0"],
    ["stuck", "--json", "--overdue-after", "0", "--internals"],
    ["stuck", "--summary", "--json", "--overdue-after", "0"],
    ["export"],
    ["export", "--internals"],
    ["export", "--attempts"],
    ["workers", "--json"],
    ["batches", "--json"],
    ["audit", "verify", "--json"],
    ["events", "subscribers", "--json"],
]
#: Kinds no read command prints on a sound database: events go to subscribers and webhooks
#: (checked against their schema in tests/test_outbox.py), problems only when a log is broken
#: (tests/test_audit_verify.py); console users only once added (tests/test_console_cli.py).
ELSEWHERE = {"event", "audit_problem", "console_user"}


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_command_output_validates_against_its_schema(
    database: Database, command: list[str]
) -> None:
    """Every line of real output is an object of a documented kind that its schema accepts."""
    validators = _validators()
    lines = database.lines(*command)
    assert lines, "no output"
    for line in lines:
        errors = sorted(validators[line["kind"]].iter_errors(line), key=str)
        assert not errors, f"{line['kind']}: {errors[0].message} in {line}"


def test_the_output_covers_every_kind_and_cause(database: Database) -> None:
    """The commands above produce every kind, and stuck finds the pauses and the late start."""
    stuck = database.lines("stuck", "--json", "--overdue-after", "0")
    assert {row["cause"] for row in stuck} == {"paused", "overdue"}
    assert {row["key"] for row in stuck if row["cause"] == "overdue"} == {"late"}
    kinds = {line["kind"] for command in COMMANDS for line in database.lines(*command)}
    assert kinds == set(KINDS) - ELSEWHERE
    [worker] = database.lines("workers", "--json")
    assert worker["status"] == "stopped"
