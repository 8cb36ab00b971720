"""The README's embedding examples type-check and run as written, against SQLite and the sandbox."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli_process import run
from workflow.sandbox import OrganizationConfig, Sandbox

README = Path(__file__).resolve().parent.parent / "README.md"
ROOT = README.parent
#: What the README's blocks take from the service around them.
PRELUDE = "request_json: object = {}\n"


def section(start: str, end: str) -> str:
    """The README's text from the heading ``start`` to the heading ``end``."""
    text = README.read_text(encoding="utf-8")
    return text[text.index(start) : text.index(end)]


def embedding_blocks() -> list[str]:
    """The Python blocks of the README's "Embedding" section, in order: the service, the
    worker process of its own, the asyncio service."""
    found = re.findall(r"```python\n(.*?)```", section("### Embedding", "### Events"), re.S)
    assert len(found) == 3
    return found


def test_the_readme_embedding_blocks_pass_mypy_strict(tmp_path: Path) -> None:
    """Every Python block of the Embedding section, in order, passes ``mypy --strict``.

    One mypy run checks the blocks and, beside them, a copy that must fail: a handler given
    where a returned value is expected does not pass (the check can fail)."""
    blocks = PRELUDE + "\n".join(embedding_blocks())
    script = tmp_path / "readme_embedding.py"
    script.write_text(blocks, encoding="utf-8")
    broken = tmp_path / "readme_embedding_broken.py"
    broken.write_text(blocks + "\nx: int = remember\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(script), str(broken)],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=600,
    )  # fmt: skip
    errors = [line for line in result.stdout.splitlines() if ": error: " in line]
    last = len(broken.read_text(encoding="utf-8").splitlines())
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(errors) == 1, result.stdout
    # By file name: mypy may name the file by the path its cache first saw it under.
    where, _, message = errors[0].partition(": error: ")
    assert (Path(where.rsplit(":", 1)[0]).name, where.rsplit(":", 1)[1]) == (broken.name, str(last))
    assert message.startswith("Incompatible types in assignment"), errors[0]


def test_the_readme_embedding_example_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sandbox: Sandbox,
    sandbox_url: str,
    samples: dict[str, dict[str, Any]],
) -> None:
    """The service block starts an onboarding, waits for its outcome and follows its events;
    the asyncio block follows every event in order, recording its position per event."""
    service, _worker_process, asyncio_service = embedding_blocks()
    sandbox.state.organization = OrganizationConfig(completion_delay_seconds=0.0)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONBOARDING_DATABASE_URL", f"sqlite:///{tmp_path / 'service.db'}")
    monkeypatch.setenv("SENT_BASE_URL", sandbox_url)
    monkeypatch.setenv("SENT_DM_API_KEY", "sandbox-key")
    monkeypatch.delenv("ONBOARDING_SECRET_KEY", raising=False)
    namespace: dict[str, Any] = {"request_json": samples["demo-inherited"]}
    try:
        exec(compile(service, "README.md (embedding)", "exec"), namespace)
        first = capsys.readouterr().out.split()
        assert first[:2] == ["completed", sandbox.snapshot()["profiles"][0]["id"]]
        final, store = namespace["final"], namespace["store"]
        history = [(h.seq, h.to_state) for h in store.history(final.id)]
        seen = [(e.seq, e.to_state) for e in namespace["seen"].values()]
        assert seen == history[: len(seen)]  # what the subscriber got before it was stopped
        assert namespace["worker"].in_flight() == 0
        exec(compile(asyncio_service, "README.md (asyncio)", "exec"), namespace)
        lines = capsys.readouterr().out.splitlines()
        assert [line.split()[0] for line in lines] == [f"evt_{final.id}_{s}" for s, _ in history]
        assert lines[-1].split()[2:5] == ["complete", "->", "completed"]
        # As an operator sees it: every event but the one the loop broke on was recorded.
        listed = run("--db", f"sqlite:///{tmp_path / 'service.db'}", "events", "subscribers",
                     "--json")  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        positions = {row["subscriber"]: row for row in map(json.loads, listed.stdout.splitlines())}
        feed = positions["audit-feed"]
        assert (feed["delivered"], feed["pending"]) == (len(history) - 1, 1)
    finally:
        if "store" in namespace:
            namespace["store"].close()
    assert (tmp_path / "service.db.key").exists()  # the key file beside the database
