"""Running the installed ``onboarding`` console script as operators do, in a subprocess."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

#: The console script installed beside the test interpreter (``pip install -e .``).
ONBOARDING = Path(sys.executable).with_name("onboarding")

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1


def _drop_dac_override() -> None:
    """In the child, before exec: lose root's power to write files whatever their mode."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def file_modes_bind() -> Callable[[], None] | None:
    """A ``preexec_fn`` under which file modes bind the child (``None`` when not root).

    Root ignores a file's write bits; dropping CAP_DAC_OVERRIDE from the child's bounding set
    makes a 0444 file or a 0555 directory as unwritable for it as for any other user.
    """
    return _drop_dac_override if os.geteuid() == 0 else None


def environment(**overrides: str) -> dict[str, str]:
    """The test environment without our settings variables, plus ``overrides``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ONBOARDING_", "SENT_"))
        or k in ("ONBOARDING_TEST_POSTGRES_URL", "ONBOARDING_RATE_LIMITS")
    }
    env.update({"COLUMNS": "80", **overrides})
    return env


def run(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    preexec_fn: Callable[[], None] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``onboarding ARGS`` and capture its output."""
    assert ONBOARDING.exists(), f"{ONBOARDING} is missing: pip install -e '.[dev]'"
    return subprocess.run(
        [str(ONBOARDING), *args], capture_output=True, text=True, env=env or environment(),
        cwd=cwd, preexec_fn=preexec_fn, timeout=timeout, check=False,
    )  # fmt: skip


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """Assert the command failed with exactly one line on stderr and no traceback; return it."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]
