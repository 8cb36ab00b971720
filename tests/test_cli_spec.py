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
    for command in ("validate", "diagram"):
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
