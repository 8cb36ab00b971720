"""The engine as the benchmarks drive it: through the ``onboarding`` command line only.

Every benchmark reaches the engine through this module and nothing else, so moving them to the
library API later means changing this file alone. Each function returns an argv (the harness
runs and measures it) or runs a short administrative command and returns its result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

__all__ = [
    "API_KEY",
    "DONE_MARKER",
    "READY_MARKER",
    "command",
    "environment",
    "help_command",
    "sandbox_command",
    "start_command",
    "states",
    "upgrade",
    "worker_command",
]

#: The key the sandbox accepts by default.
API_KEY = "sandbox-key"
#: The worker logs this line (at INFO) once it is about to claim work.
READY_MARKER = "started: database"
#: ... and this one once ``--until-idle`` found nothing left to do.
DONE_MARKER = "worker stopped"
_SCRIPT = Path(sys.executable).with_name("onboarding")


def command(*args: str, db: str | None = None, api_url: str | None = None) -> list[str]:
    """``onboarding [--db URL] [--api-url URL --api-key KEY] ARGS...`` as an argv."""
    # The console script is what a user runs; ``python -m workflow`` when it is not installed.
    argv = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "workflow"]
    if db is not None:
        argv += ["--db", db]
    if api_url is not None:
        argv += ["--api-url", api_url, "--api-key", API_KEY]
    return [*argv, *args]


def environment(workdir: Path, *, callback_base_url: str, completion_poll: float) -> dict[str, str]:
    """The process environment for engine commands: a key file in ``workdir`` and the waits.

    ``completion_poll`` is how long the engine waits between profile reads once ``/complete``
    was accepted (``ONBOARDING_POLL_INTERVAL``); the other contenders wait as long. The sandbox
    these benchmarks serve does not limit ``/complete`` and no other contender paces it, so the
    engine's pacing of Sent's documented 10 a minute is off unless ``ONBOARDING_RATE_LIMITS``
    says otherwise (``rate_limit.py`` measures it).
    """
    return {
        "ONBOARDING_RATE_LIMITS": "complete=0",
        **os.environ,
        "ONBOARDING_SECRET_KEY_FILE": str(workdir / "onboarding.key"),
        "ONBOARDING_POLL_INTERVAL": str(completion_poll),
        "ONBOARDING_CALLBACK_BASE_URL": callback_base_url,
    }


def help_command() -> list[str]:
    """``onboarding --help``: the cost of starting the command line at all."""
    return command("--help")


def sandbox_command(port: int, latency_ms: float, completion_delay: float) -> list[str]:
    """``onboarding sandbox serve`` on loopback ``port``."""
    return command(
        "sandbox", "serve", "--port", str(port), "--latency-ms", str(latency_ms),
        "--completion-delay", str(completion_delay),
    )  # fmt: skip


def start_command(db: str, spec_file: Path) -> list[str]:
    """``onboarding start FILE``: validate and store the specs."""
    return command("start", str(spec_file), db=db)


def worker_command(db: str, api_url: str, *, concurrency: int, poll_interval: float) -> list[str]:
    """``onboarding worker --until-idle``: run every stored onboarding, then exit."""
    return command(
        "worker", "--until-idle", "--concurrency", str(concurrency),
        "--poll-interval", str(poll_interval), db=db, api_url=api_url,
    )  # fmt: skip


def upgrade(db: str, env: dict[str, str]) -> None:
    """``onboarding db upgrade``: create or migrate the schema.

    Raises:
        subprocess.CalledProcessError: the command failed (its stderr is attached).
    """
    subprocess.run(command("db", "upgrade", db=db), env=env, check=True, capture_output=True)


def states(db: str, env: dict[str, str]) -> Counter[str]:
    """How many onboardings are in each state, from ``onboarding list --json``."""
    listed = subprocess.run(
        command("list", "--json", "--limit", "0", db=db),
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return Counter(json.loads(line)["state"] for line in listed.stdout.splitlines() if line)
