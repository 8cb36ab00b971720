"""Shared pieces of the ownership tests: two onboardings with the same profile content, Sent
failing their creates, the CLI, and what the sandbox says each profile went through."""

from __future__ import annotations

import copy
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from tests.cli_process import environment, run
from tests.conftest import TEST_KEY, Harness
from workflow.sandbox import FaultConfig, ScriptedFault

SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "schema"
#: Only a profile create's body names ``short_name`` among the POSTs the engine sends.
PROFILE_POST: dict[str, Any] = {"method": "POST", "body_contains": '"short_name"'}
CAMPAIGN_POST: dict[str, Any] = {"method": "POST", "path_contains": "/campaigns"}


def same_content(raw: dict[str, Any], key: str) -> dict[str, Any]:
    """The spec under another key, without secrets (no card, the organization's WhatsApp
    account): the same profile content at Sent, and a file the CLI reads without a key."""
    spec = copy.deepcopy(raw)
    spec["key"] = key
    spec["profile"].pop("payment_details", None)
    spec["profile"].pop("whatsapp_business_account", None)
    return spec


def fail_creates(harness: Harness, match: dict[str, Any], *, lost_first: bool) -> None:
    """Sent answers every matching create 503 without applying it; with ``lost_first`` it
    applies the first one and loses its reply (502)."""
    scripted = [ScriptedFault(**match, status=503, times=10_000)]
    if lost_first:
        scripted.insert(0, ScriptedFault(**match, status=502, after_execution=True))
    harness.sandbox.faults.configure(FaultConfig(scripted=scripted))


def heal(harness: Harness) -> None:
    """Sent answers everything again."""
    harness.sandbox.faults.configure(FaultConfig())


@dataclass(frozen=True)
class Ran:
    """What a command printed (stdout and stderr together) and its exit code."""

    exit_code: int
    output: str


def cli(harness: Harness, *args: str) -> Ran:
    """The installed ``onboarding`` console script on the harness's database, as an operator
    runs it: expected failures are its one ``error:`` line on stderr and exit code 1."""
    url = harness.store.engine.url.render_as_string(hide_password=False)
    # Operator actions write the audit log: they need the key the harness anchors it with.
    keyed = environment(ONBOARDING_SECRET_KEY=TEST_KEY.decode())
    done = run("--db", url, *args, env=keyed)
    return Ran(done.returncode, done.stdout + done.stderr)


def profile_at_sent(harness: Harness, profile_id: str | None) -> dict[str, Any]:
    """One profile as the sandbox holds it (deleted ones too), with every call on its path."""
    (found,) = [p for p in harness.sent_profiles() if p["id"] == profile_id]
    return found


def calls_on(profile: dict[str, Any]) -> Counter[str]:
    """How many calls of each operation named this profile (refused ones too)."""
    counts: Counter[str] = Counter()
    for entry in profile["x_profile_ids"]:
        counts[entry["operation"]] += entry["count"]
    return counts


def live_profiles(harness: Harness) -> list[dict[str, Any]]:
    """The profiles Sent holds and has not deleted."""
    return [p for p in harness.sent_profiles() if not p["deleted"]]


def executed(harness: Harness, operation: str) -> int:
    """How often Sent executed a mutation (replays and faults not counted)."""
    return int(harness.sandbox.snapshot()["mutations"].get(f"{operation} executed", 0))


def shown(harness: Harness, onboarding: str) -> dict[str, Any]:
    """``onboarding show --json``, checked against its documented schema."""
    result = cli(harness, "show", onboarding, "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    schema = json.loads((SCHEMAS / "onboarding.json").read_text())
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = [e.message for e in validator.iter_errors(data)]
    assert not errors, errors
    return data
