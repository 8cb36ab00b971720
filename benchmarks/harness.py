"""What the comparison benchmarks share: measured child processes, a sandbox in its own process,
the check of Sent's end state, and a Markdown table.

A contender's cost is read from the kernel when the child is reaped (``os.wait4``): user + system
CPU and peak RSS (``ru_maxrss``, the same high-water mark as ``VmHWM``), so the benchmark's own
threads and the sandbox's process never count.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

import engine_cli
from tcr_path import FINAL_STATUSES, expected_mutations

__all__ = [
    "Measured",
    "SandboxProcess",
    "free_port",
    "markdown_table",
    "run_measured",
    "sandbox_problems",
]


@dataclass
class Measured:
    """One finished child process. Times are ``time.monotonic()`` values (system-wide on Linux)."""

    argv: list[str]
    returncode: int
    started: float
    ended: float
    ready_at: float | None
    done_at: float | None
    cpu_s: float
    peak_rss_mib: float
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        """Spawn to exit."""
        return self.ended - self.started

    @property
    def startup_s(self) -> float | None:
        """Spawn to the ready line (``None`` when it never printed one)."""
        return None if self.ready_at is None else self.ready_at - self.started

    @property
    def work_s(self) -> float:
        """Ready to done (else to exit): the time spent working, shutdown excluded."""
        end = self.done_at if self.done_at is not None else self.ended
        return end - (self.ready_at if self.ready_at is not None else self.started)

    def tail(self, lines: int = 5) -> str:
        """The last lines of stderr, for a failure message."""
        return "".join(self.stderr[-lines:]).strip()


def run_measured(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    ready_marker: str | None = None,
    done_marker: str | None = None,
    timeout: float = 300,
) -> Measured:
    """Run ``argv`` to completion and measure it.

    ``ready_marker`` and ``done_marker`` are texts whose first appearance on stdout or stderr
    marks the end of startup and the end of the work (shutdown follows). A child still running
    after ``timeout`` seconds is killed (the returncode says so).
    """
    started = time.monotonic()
    proc = subprocess.Popen(
        list(argv), env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen: dict[str, float] = {}
    out: list[str] = []
    err: list[str] = []

    def pump(stream: Any, sink: list[str]) -> None:
        for line in stream:
            for marker in (ready_marker, done_marker):
                if marker is not None and marker not in seen and marker in line:
                    seen[marker] = time.monotonic()
            sink.append(line)

    pumps = [
        threading.Thread(target=pump, args=(proc.stdout, out), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, err), daemon=True),
    ]
    for thread in pumps:
        thread.start()
    reaped = threading.Event()

    def kill() -> None:
        if not reaped.is_set():
            proc.kill()

    killer = threading.Timer(timeout, kill)
    killer.start()
    # wait4 instead of Popen.wait: it hands back this child's own rusage.
    _, status, usage = os.wait4(proc.pid, 0)
    ended = time.monotonic()
    reaped.set()
    killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    for thread, stream in zip(pumps, (proc.stdout, proc.stderr), strict=True):
        thread.join(timeout=5)
        if stream is not None:
            stream.close()
    return Measured(
        argv=list(argv), returncode=proc.returncode, started=started, ended=ended,
        ready_at=seen.get(ready_marker or ""), done_at=seen.get(done_marker or ""),
        cpu_s=usage.ru_utime + usage.ru_stime, peak_rss_mib=usage.ru_maxrss / 1024,
        stdout=out, stderr=err,
    )  # fmt: skip


def free_port() -> int:
    """A loopback TCP port free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SandboxProcess:
    """``onboarding sandbox serve`` in its own process: fresh state, CPU not counted."""

    def __init__(
        self,
        workdir: Path,
        *,
        latency_ms: float = 0.0,
        completion_delay: float = 0.0,
        options: Sequence[str] = (),
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.argv = [*engine_cli.sandbox_command(self.port, latency_ms, completion_delay), *options]
        self.log = workdir / f"sandbox-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SandboxProcess:
        with self.log.open("wb") as log:
            self._proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"sandbox exited at start: {self.log.read_text()[-500:]}")
            try:
                if httpx.get(self.url + "/_sandbox/state", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.__exit__(None, None, None)
        raise RuntimeError(f"sandbox did not answer on {self.url} within 30 s")

    def state(self) -> dict[str, Any]:
        """``GET /_sandbox/state``: every profile and the mutation counts."""
        return dict(httpx.get(self.url + "/_sandbox/state", timeout=30).json())

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def sandbox_problems(state: dict[str, Any], count: int) -> list[str]:
    """What is wrong with Sent's end state after ``count`` onboardings of the sample.

    Right means: exactly ``count`` profiles, none deleted, each in a final status, no two with
    the same name, and each mutation executed exactly as often as the sample needs.
    """
    problems = []
    profiles = state["profiles"]
    if len(profiles) != count:
        problems.append(f"{len(profiles)} profiles at Sent, expected {count}")
    deleted = sum(bool(p.get("deleted")) for p in profiles)
    if deleted:
        problems.append(f"{deleted} profiles deleted")
    statuses = Counter(str(p.get("status")) for p in profiles if not p.get("deleted"))
    not_final = {s: n for s, n in statuses.items() if s.lower() not in FINAL_STATUSES}
    if not_final:
        problems.append(f"profiles not in a final status: {not_final}")
    names = Counter(p.get("name") for p in profiles)
    duplicates = sum(n - 1 for n in names.values() if n > 1)
    if duplicates:
        problems.append(f"{duplicates} duplicate profiles at Sent")
    mutations = state["mutations"]
    for name, expected in expected_mutations(count).items():
        if mutations.get(name, 0) != expected:
            problems.append(f"{name}: {mutations.get(name, 0)}, expected {expected}")
    return problems


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (pastes straight into the README)."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
             for row in cells]  # fmt: skip
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
