"""The benchmarks' own correctness checks: the floor's calls, Sent's end state, child measurement."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from workflow.sandbox import OrganizationConfig, Sandbox, ServerThread

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> dict[str, ModuleType]:
    """The benchmark modules, imported the way the scripts import each other."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return {name: importlib.import_module(name) for name in ("floor_client", "harness", "tcr_path")}


@pytest.fixture
def sent() -> Iterator[tuple[Sandbox, str]]:
    box = Sandbox(OrganizationConfig(completion_delay_seconds=0))
    with ServerThread(box.app) as server:
        yield box, server.url
    box.close()


def _onboard(bench: dict[str, ModuleType], url: str, count: int) -> list[str]:
    tcr_path = bench["tcr_path"]
    calls = tcr_path.SentCalls(url, "sandbox-key")
    steps = bench["floor_client"].FloorSteps(calls)
    try:
        return [
            tcr_path.onboard(steps, doc, uuid.uuid4().hex, 0.01)
            for doc in tcr_path.documents(count, "t")
        ]
    finally:
        calls.close()


def test_floor_path_leaves_one_final_profile_per_onboarding(
    bench: dict[str, ModuleType], sent: tuple[Sandbox, str]
) -> None:
    """The floor's calls finish each onboarding with one profile at Sent, and the check agrees."""
    box, url = sent
    statuses = _onboard(bench, url, 3)
    assert statuses == ["submitted"] * 3
    assert bench["harness"].sandbox_problems(box.snapshot(), 3) == []


def test_sandbox_check_reports_a_duplicate_profile(
    bench: dict[str, ModuleType], sent: tuple[Sandbox, str]
) -> None:
    """A second profile for the same onboarding fails the check."""
    box, url = sent
    _onboard(bench, url, 2)
    calls = bench["tcr_path"].SentCalls(url, "sandbox-key")
    doc = bench["tcr_path"].documents(1, "t")[0]
    calls.call("POST", "/v3/profiles", doc["profile"], "another-key")
    calls.close()
    problems = bench["harness"].sandbox_problems(box.snapshot(), 2)
    assert "3 profiles at Sent, expected 2" in problems
    assert "1 duplicate profiles at Sent" in problems
    assert "profiles not in a final status: {'incomplete': 1}" in problems


def test_sandbox_check_reports_an_unfinished_onboarding(
    bench: dict[str, ModuleType], sent: tuple[Sandbox, str]
) -> None:
    """A profile created but never completed fails the check, naming the missing mutations."""
    box, url = sent
    calls = bench["tcr_path"].SentCalls(url, "sandbox-key")
    doc = bench["tcr_path"].documents(1, "t")[0]
    calls.call("POST", "/v3/profiles", doc["profile"], "only-key")
    calls.close()
    problems = bench["harness"].sandbox_problems(box.snapshot(), 1)
    assert "profiles not in a final status: {'incomplete': 1}" in problems
    assert "complete executed: 0, expected 1" in problems


def test_run_measured_reads_the_childs_cpu_memory_and_markers(
    bench: dict[str, ModuleType],
) -> None:
    """CPU and peak RSS are the child's own, and the markers split startup from work."""
    script = textwrap.dedent(
        """
        import time
        print("up", flush=True)
        block = bytearray(300 * 1024 * 1024)
        began = time.process_time()
        while time.process_time() - began < 0.3:
            pass
        print("finished", flush=True)
        """
    )
    run = bench["harness"].run_measured(
        [sys.executable, "-c", script], ready_marker="up", done_marker="finished"
    )
    assert run.returncode == 0
    assert run.cpu_s >= 0.3
    assert run.peak_rss_mib >= 300
    assert run.started < run.ready_at <= run.done_at <= run.ended
    assert run.work_s == pytest.approx(run.done_at - run.ready_at)
