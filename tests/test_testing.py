"""``workflow.testing``: what an embedding service's own tests use, used as they would."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from workflow.core.backoff import RetryPolicy
from workflow.sandbox import FaultConfig
from workflow.testing import TestBed


def test_a_test_bed_runs_an_onboarding_to_its_outcome_on_a_fake_clock(
    samples: dict[str, dict[str, Any]],
) -> None:
    """Seed 002's Status Logic: an own TCR brand is submitted, an inherited one completed."""
    with TestBed() as bed:
        tcr = bed.start(json.dumps(samples["demo-own-brand-tcr"]))
        inherited = bed.start(samples["demo-inherited"])
        bed.run_until_idle()
        assert bed.store.get(tcr).state == "submitted"
        assert bed.store.get(inherited).state == "completed"
        held = {bed.store.get(tcr).profile_id, bed.store.get(inherited).profile_id}
        assert {p["id"] for p in bed.sent_profiles()} == held


def test_a_test_bed_moves_through_an_hour_of_sent_failures_without_waiting(
    samples: dict[str, dict[str, Any]],
) -> None:
    """Sent failing every create: the retries spend their hour on the fake clock and pause."""
    retry = RetryPolicy(initial=1, cap=60, max_attempts=500, max_elapsed=3600)
    with TestBed(retry=retry) as bed:
        bed.sandbox.faults.configure(FaultConfig(error_rates={503: 1.0}, seed=1))
        onboarding = bed.start(samples["demo-inherited"])
        started = bed.clock.now()
        bed.run_until_idle()
        checkpoint = bed.store.get(onboarding)
        assert checkpoint.state == "needs_attention"
        assert (bed.clock.now() - started).total_seconds() >= 3600
        assert bed.sent_profiles() == []


def test_the_readme_test_bed_example_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's TestBed block runs and prints the outcome its comment promises."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Testing a service that embeds it", 1)[1].split("\n### ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    exec(compile(block, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip() == "completed"
