"""The README's embedding example runs as written, against SQLite and the sandbox."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from workflow.sandbox import OrganizationConfig, Sandbox

README = Path(__file__).resolve().parent.parent / "README.md"


def embedding_blocks() -> list[str]:
    """The Python blocks of the README's "Embedding" section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Embedding") : text.index("### Events")]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_embedding_example_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sandbox: Sandbox,
    sandbox_url: str,
    samples: dict[str, dict[str, Any]],
) -> None:
    """The blocks start an onboarding, wait for its outcome and follow its events in order."""
    blocks = embedding_blocks()
    assert len(blocks) == 2
    sandbox.state.organization = OrganizationConfig(completion_delay_seconds=0.0)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONBOARDING_DATABASE_URL", f"sqlite:///{tmp_path / 'service.db'}")
    monkeypatch.setenv("SENT_BASE_URL", sandbox_url)
    monkeypatch.setenv("SENT_DM_API_KEY", "sandbox-key")
    monkeypatch.delenv("ONBOARDING_SECRET_KEY", raising=False)
    namespace: dict[str, Any] = {"request_json": samples["demo-inherited"]}
    try:
        exec(compile(blocks[0], "README.md (embedding)", "exec"), namespace)
        first = capsys.readouterr().out.split()
        assert first[:2] == ["completed", sandbox.snapshot()["profiles"][0]["id"]]
        final = namespace["final"]
        deadline = time.monotonic() + 10
        while len(namespace["seen"]) < final.audit_seq and time.monotonic() < deadline:
            time.sleep(0.01)
        seen = list(namespace["seen"].values())
        assert [(e.seq, e.to_state) for e in seen] == [
            (h.seq, h.to_state) for h in namespace["store"].history(final.id)
        ]
        assert seen[-1].to_state == "completed"
        exec(compile(blocks[1], "README.md (asyncio)", "exec"), namespace)
        lines = capsys.readouterr().out.splitlines()
        assert [line.split()[0] for line in lines] == [e.event_id for e in seen]
        assert lines[-1].split()[2:5] == ["complete", "->", "completed"]
    finally:
        if "worker" in namespace:
            namespace["worker"].stop()
            namespace["running"].join()
            namespace["api"].close()
        if "subscriber" in namespace:
            namespace["subscriber"].stop()
        if "db" in namespace:
            namespace["db"].dispose()
    assert (tmp_path / "service.db.key").exists()  # the key file beside the database
