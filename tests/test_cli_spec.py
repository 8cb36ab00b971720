"""The command line: help, validate and the diagram check, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tests.conftest import SAMPLES
from workflow.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


def test_help_lists_the_commands() -> None:
    """'onboarding --help' (the installed console script) names every command."""
    result = subprocess.run(
        [sys.executable, "-m", "workflow", "--help"], capture_output=True, text=True, check=True
    )
    for command in (
        "validate",
        "diagram",
        "demo",
        "start",
        "worker",
        "show",
        "history",
        "list",
        "stuck",
        "resume",
        "retry",
        "rewind",
        "cancel",
        "export",
        "db",
        "sandbox",
    ):
        assert command in result.stdout


def test_validate_accepts_valid_specs() -> None:
    """Valid specs exit 0 and are named."""
    result = runner.invoke(app, ["validate", str(SAMPLES)])
    assert result.exit_code == 0, result.output
    assert "demo-inherited: valid" in result.output


def test_validate_prints_every_problem_and_exits_1(tmp_path: Path, samples: dict[str, Any]) -> None:
    """Each problem is printed with its field path; one bad spec makes the exit code 1."""
    bad = {"key": "bad", "profile": {"short_name": "x", "billing_model": "nope"}}
    path = tmp_path / "specs.json"
    path.write_text(json.dumps([samples["demo-inherited"], bad]))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "demo-inherited: valid" in result.output
    assert "specs.json[1]: 3 problem(s)" in result.output
    assert "profile.name: Profile name is required" in result.output
    assert "profile.short_name: short_name must be 3–11 characters" in result.output
    assert "profile.billing_model: billing_model must be one of" in result.output


def test_diagram_check_passes_on_the_repository() -> None:
    """'onboarding diagram --check' exits 0 on the committed diagram."""
    result = runner.invoke(app, ["diagram", "--check", "--directory", str(ROOT / "diagrams")])
    assert result.exit_code == 0, result.output


def test_diagram_check_fails_on_a_stale_diagram(tmp_path: Path) -> None:
    """A stale diagram makes 'onboarding diagram --check' exit 1 with a hint."""
    (tmp_path / "onboarding.md").write_text("old\n")
    result = runner.invoke(app, ["diagram", "--check", "--directory", str(tmp_path)])
    assert result.exit_code == 1
    assert "stale" in result.output


def test_sandbox_serve_runs_the_sandbox_with_faults() -> None:
    """'onboarding sandbox serve' answers on its port with the faults it was given."""
    import time

    import httpx

    from workflow.sandbox import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "workflow", "sandbox", "serve", "--port", str(port), "--error-rate", "503=1.0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"x-api-key": "sandbox-key"}
        ) as client:
            while True:
                try:
                    response = client.get("/v3/profiles")
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline, "sandbox did not start"
                    time.sleep(0.1)
            assert response.status_code == 503
            assert client.get("/_sandbox/faults").json()["error_rates"] == {"503": 1.0}
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_validate_reports_key_conflicts_across_files(
    tmp_path: Path, samples: dict[str, Any]
) -> None:
    """One key with two different specs in the files given together is a problem (exit 1)."""
    first = tmp_path / "a.json"
    first.write_text(json.dumps(samples["demo-inherited"]))
    changed = dict(
        samples["demo-inherited"],
        profile={**samples["demo-inherited"]["profile"], "description": "x"},
    )
    second = tmp_path / "b.json"
    second.write_text(json.dumps([samples["demo-retried"], changed]))
    result = runner.invoke(app, ["validate", str(first), str(second)])
    assert result.exit_code == 1
    assert f"{second}[1]: 1 problem(s)" in result.output
    assert (
        f"  key: key 'demo-inherited' is also given in {first} with different content"
        in result.output
    )
    assert "demo-retried: valid" in result.output
    assert "demo-inherited: valid" not in result.output


def test_validate_accepts_identical_duplicates(tmp_path: Path, samples: dict[str, Any]) -> None:
    """The same spec in two files is fine: starting it twice is idempotent."""
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text(json.dumps(samples["demo-inherited"]))
    result = runner.invoke(app, ["validate", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert result.exit_code == 0, result.output


def test_sandbox_serve_takes_the_compatibility_options() -> None:
    """--no-cache-client-errors executes a refused key again; --list-page-size pages the list."""
    import time

    import httpx

    from workflow.sandbox import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "workflow", "sandbox", "serve", "--port", str(port),
         "--no-cache-client-errors", "--no-org-whatsapp", "--list-page-size", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    profile = {"name": "Ops", "billing_model": "organization"}
    try:
        deadline = time.monotonic() + 20
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"x-api-key": "sandbox-key"}
        ) as client:
            while True:
                try:
                    state = client.get("/_sandbox/state").json()
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline, "sandbox did not start"
                    time.sleep(0.1)
            assert state["cache_client_errors"] is False
            key = {"Idempotency-Key": "cli-create"}
            assert client.post("/v3/profiles", json=profile, headers=key).status_code == 422
            client.put("/_sandbox/organization", json={"has_whatsapp_account": True})
            assert client.post("/v3/profiles", json=profile, headers=key).status_code == 201
            client.post("/v3/profiles", json={**profile, "name": "Two"})
            client.post("/v3/profiles", json={**profile, "name": "Three"})
            pagination = client.get("/v3/profiles").json()["data"]["pagination"]
            assert (pagination["page_size"], pagination["total_pages"]) == (2, 2)
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_sandbox_serve_refuses_an_empty_rejection_reason_in_one_line() -> None:
    """An empty --rejection-reason is refused with one line naming the option's field."""
    result = runner.invoke(app, ["sandbox", "serve", "--rejection-reason", ""])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: sandbox options refused: rejection_reason: String should have at least 1 character"
    ]
