"""Adding a step takes one step module and one entry in the flow definition, nothing else; and
onboardings keep running under the flow version they started with."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from typing import Any

from tests.conftest import Harness
from workflow.engine.runner import Worker, drive_until_idle
from workflow.flows import FLOW, FlowDefinition, FlowStep
from workflow.management.onboardings import Onboardings
from workflow.steps.base import Advance, Item, Outcome, StepContext, StepDefinition

# ---- the new step's own module (what a developer writes) -----------------------------------


def _confirm(ctx: StepContext) -> Mapping[str, Any]:
    profile_id = ctx.profile_id
    reply = ctx.call("GET", f"/v3/profiles/{profile_id}", lambda: ctx.api.get_profile(profile_id))
    return {"waba_id": reply.data.waba_id}


def _items(ctx: StepContext) -> Sequence[Item]:
    return [Item("numbers", _confirm)]


def _finish(ctx: StepContext) -> Outcome:
    return Advance(details=dict(ctx.output("confirm_numbers", "numbers") or {}))


CONFIRM_NUMBERS = StepDefinition(name="confirm_numbers", items=_items, finish=_finish)

# ---- the registry entry (what a developer adds to workflow/flows/__init__.py) --------------------------


def _extended() -> FlowDefinition:
    path = list(FLOW.path)
    at = next(i for i, e in enumerate(path) if e.trigger == "request_completion")
    completion = path[at]
    path[at : at + 1] = [
        FlowStep("campaigns", CONFIRM_NUMBERS, "confirm_numbers", (("numbers", None),)),
        dataclasses.replace(completion, state="numbers"),
    ]
    return dataclasses.replace(FLOW, version=2, path=tuple(path))


def test_a_new_step_runs_from_its_module_and_one_registry_entry(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """A flow with an extra step between campaigns and complete: the machine, the rewind targets
    and the worker pick it up; an onboarding started under version 1 keeps version 1's path."""
    extended = _extended()
    assert extended.machine.path == (
        "pending",
        "incomplete",
        "brand",
        "campaigns",
        "numbers",
        "complete",
    )
    old = harness.start(samples["demo-inherited"])  # version 1, the release's flow
    raw = dict(samples["demo-own-brand-tcr"])
    new = (
        Onboardings(harness.store, harness.vault, clock=harness.clock, flow=extended)
        .start(harness_spec(harness, raw))
        .id
    )
    worker = Worker(
        harness.store, harness.api, harness.vault, config=harness.executor.config,
        clock=harness.clock, rng=random.Random(3), flows={1: FLOW, 2: extended},
    )  # fmt: skip
    try:
        drive_until_idle(worker, harness.clock)
    finally:
        worker.close()
    assert harness.store.get(old).flow_version == 1
    assert harness.store.get(new).flow_version == 2
    assert [t.to_state for t in harness.store.history(old)] == [
        "pending", "incomplete", "brand", "campaigns", "complete", "completed",
    ]  # fmt: skip
    assert [t.to_state for t in harness.store.history(new)] == [
        "pending", "incomplete", "brand", "campaigns", "numbers", "complete", "submitted",
    ]  # fmt: skip
    confirmed = next(t for t in harness.store.history(new) if t.trigger == "confirm_numbers")
    assert confirmed.details == {"waba_id": raw["profile"]["whatsapp_business_account"]["waba_id"]}


def harness_spec(harness: Harness, raw: dict[str, Any]) -> Any:
    from workflow.core.spec import parse_spec

    return parse_spec(raw, today=harness.clock.now().date())


def test_an_onboarding_of_an_unknown_flow_version_pauses_saying_so(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """A release that no longer runs an onboarding's flow version pauses it with that reason."""
    extended = _extended()
    onboarding = (
        Onboardings(harness.store, harness.vault, clock=harness.clock, flow=extended)
        .start(harness_spec(harness, samples["demo-inherited"]))
        .id
    )
    harness.run()
    row = harness.store.get(onboarding)
    assert row.state == "needs_attention"
    assert row.last_error is not None
    assert row.last_error["code"] == "FLOW_VERSION_UNKNOWN"
    assert "flow version 2" in row.last_error["reason"]
