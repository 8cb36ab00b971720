"""'onboarding start' stores all of its input or nothing."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from tests.cli_process import environment, run


def _stored(db: str, tmp_path: Path) -> list[str]:
    listed = run("--db", db, "list", "--json", env=environment(), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    return [json.loads(line)["key"] for line in listed.stdout.splitlines() if line.strip()]


def test_specs_that_conflict_with_each_other_store_nothing(
    tmp_path: Path, samples: dict[str, Any]
) -> None:
    """Two entries with one key and different content: start refuses in one place, naming both,
    and stores none of the file (not even the entries before them)."""
    first = samples["demo-inherited"]
    clash = copy.deepcopy(first)
    clash["profile"]["description"] = "another description"
    path = tmp_path / "specs.yaml"
    path.write_text(yaml.safe_dump([samples["demo-no-channels"], first, clash]))
    db = f"sqlite:///{tmp_path / 'onboarding.db'}"
    result = run("--db", db, "start", str(path), env=environment(), cwd=tmp_path)
    assert result.returncode == 1
    assert "demo-inherited" in result.stderr
    assert "nothing was stored" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "onboarding.db").exists()  # refused before anything was created
    again = run(
        "--db", db, "start", str(path.with_name("ok.yaml")), env=environment(), cwd=tmp_path
    )
    assert again.returncode == 1  # a missing file is one line too


def test_a_key_taken_by_another_spec_stores_nothing_of_the_file(
    tmp_path: Path, samples: dict[str, Any]
) -> None:
    """A file whose second entry's key is taken by a different stored spec stores nothing."""
    db = f"sqlite:///{tmp_path / 'onboarding.db'}"
    stored = tmp_path / "stored.yaml"
    stored.write_text(yaml.safe_dump([samples["demo-inherited"]]))
    assert run("--db", db, "start", str(stored), env=environment(), cwd=tmp_path).returncode == 0
    changed = copy.deepcopy(samples["demo-inherited"])
    changed["profile"]["description"] = "changed"
    batch = tmp_path / "batch.yaml"
    batch.write_text(yaml.safe_dump([samples["demo-no-channels"], changed]))
    result = run("--db", db, "start", str(batch), env=environment(), cwd=tmp_path)
    assert result.returncode == 1
    assert "onboarding amend demo-inherited" in result.stderr
    assert "nothing was stored" in result.stderr
    assert _stored(db, tmp_path) == ["demo-inherited"]
