"""The public JSON of every read command validates against docs/schema (JSON Schema 2020-12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tests.populated import Database

SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "schema"
KINDS = (
    "onboarding", "transition", "attempt", "stuck", "stuck_group", "worker", "event",
    "audit_problem", "audit_summary", "subscriber", "batch", "console_user",
)  # fmt: skip


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
