"""What a process loads and holds: httpx's command-line tool on demand, fewer malloc arenas."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from workflow.cli.memory import share_malloc_arenas

_PROBE = """
import sys
import workflow, httpx
assert "rich" not in sys.modules and "pygments" not in sys.modules, "httpx loaded its tool"
try:
    httpx.main(["--help"])
except SystemExit as exit:
    assert exit.code == 0, exit.code
assert "rich" in sys.modules, "the tool did not load on its first call"
"""


def test_httpx_loads_its_command_line_tool_only_when_it_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout  # httpx's own help, printed by the real tool


@pytest.mark.skipif(
    not (hasattr(os, "confstr") and (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")),
    reason="malloc arenas are glibc's",
)
def test_the_worker_caps_malloc_arenas_unless_the_environment_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert share_malloc_arenas() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert share_malloc_arenas() is False
