"""Adding a step takes its module and a flow version, nothing else: ``verify_profile``
(``tests/example_verify_profile.py``, a real GET at Sent) in flow version 2
(``tests/example_flow_v2.py``) runs beside version 1, through rewind, amend, the CLI's
``--state`` and the diagram, and no other file of ``workflow/`` names a step."""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests import example_verify_profile as verify_profile
from tests.conftest import Harness
from tests.example_flow_v2 import FLOW_V2
from workflow.cli import app
from workflow.core.spec import parse_spec
from workflow.engine.runner import Worker, drive_until_idle
from workflow.flows import FLOW, FLOWS, diagram
from workflow.management.decisions import resent_by_rewind_to
from workflow.management.onboardings import Onboardings
from workflow.sandbox.faults import FaultConfig, ScriptedFault

ROOT = Path(__file__).resolve().parent.parent
V1_PATH = ["pending", "incomplete", "brand", "campaigns", "complete"]
V2_PATH = ["pending", "incomplete", "brand", "campaigns", "verified", "complete"]


class Reviewer:
    """The review the new step depends on: refuses until a profile is approved."""

    def __init__(self) -> None:
        self.approved: set[str] = set()
        self.everything = False
        self.seen: list[str] = []

    def __call__(self, profile: verify_profile.VerifiedProfile) -> str | None:
        self.seen.append(profile.profile_id)
        if self.everything or profile.profile_id in self.approved:
            return None
        return "not approved yet"


@pytest.fixture
def registered() -> Iterator[None]:
    """Version 2 registered beside version 1 (as a release that adds it)."""
    with FLOWS.registered(FLOW_V2):
        yield


@pytest.fixture
def reviewer() -> Reviewer:
    return Reviewer()


@pytest.fixture
def worker(harness: Harness, registered: None, reviewer: Reviewer) -> Iterator[Worker]:
    """A worker running every registered version, given the new step's dependency."""
    made = Worker(
        harness.store, harness.api, harness.vault, config=harness.executor.config,
        clock=harness.clock, rng=random.Random(3), dependencies={verify_profile.REVIEWER: reviewer},
    )  # fmt: skip
    yield made
    made.close()


def _start_v2(harness: Harness, raw: dict[str, Any]) -> str:
    ops = Onboardings(harness.store, harness.vault, clock=harness.clock, flow=FLOW_V2)
    return ops.start(parse_spec(raw, today=harness.clock.now().date()), actor="test").id


def _run(worker: Worker, harness: Harness) -> None:
    drive_until_idle(worker, harness.clock)


def _path(harness: Harness, onboarding: str) -> list[str]:
    """The states it passed through (a pause and its resume left out)."""
    return [
        t.to_state
        for t in harness.store.history(onboarding)
        if t.to_state != "needs_attention" and t.trigger != "resume"
    ]


def _reads(harness: Harness, onboarding: str) -> list[int]:
    """The generation of each GET the new step made."""
    return [
        a.generation for a in harness.store.attempts(onboarding) if a.step == verify_profile.NAME
    ]


def _own_campaigns(harness: Harness) -> list[str]:
    return [c for p in harness.sent_profiles() for c in p["own_campaigns"]]


def _paused_in_review(
    harness: Harness, worker: Worker, raw: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    onboarding = _start_v2(harness, raw)
    _run(worker, harness)
    row = harness.store.get(onboarding)
    assert (row.state, row.paused_from) == ("needs_attention", "campaigns")
    assert row.last_error is not None
    assert row.last_error["code"] == "PROFILE_REVIEW"
    return onboarding, raw


def test_onboardings_of_both_versions_run_side_by_side_to_their_outcome(
    harness: Harness, samples: dict[str, Any], worker: Worker, reviewer: Reviewer
) -> None:
    """One worker runs a version-1 onboarding on version 1's path and a version-2 one through
    the new step, which reads the profile at Sent (over HTTP) and keeps a typed output."""
    assert list(FLOW_V2.machine.path) == V2_PATH
    old = harness.start(samples["demo-inherited"])
    raw = samples["demo-own-brand-tcr"]
    new = _start_v2(harness, raw)
    _run(worker, harness)  # nothing is approved yet: the new onboarding pauses in review
    assert harness.store.get(old).state == "completed"
    assert _path(harness, old) == [*V1_PATH, "completed"]
    assert harness.store.get(new).state == "needs_attention"
    profile_id = harness.store.get(new).profile_id
    assert profile_id is not None
    reviewer.approved.add(profile_id)
    harness.ops.resume(new, actor="ops", reason="reviewed")
    _run(worker, harness)
    row = harness.store.get(new)
    assert (row.flow_version, row.state) == (2, "submitted")
    assert harness.store.get(old).flow_version == 1
    assert _path(harness, new) == [*V2_PATH, "submitted"]
    verified = next(t for t in harness.store.history(new) if t.trigger == "verify_profile")
    assert verified.details == {"verified": profile_id, "name": raw["profile"]["name"]}
    records = harness.store.records(new, row.generation)
    stored = next(r for r in records if r.step == verify_profile.NAME).output
    assert verify_profile.VerifiedProfile.model_validate(stored).profile_id == profile_id
    assert _reads(harness, new) == [0]  # the resume judged again the profile it had read
    assert reviewer.seen == [profile_id, profile_id]


def test_a_rewind_into_and_past_the_new_step_runs_it_again(
    harness: Harness, samples: dict[str, Any], worker: Worker, reviewer: Reviewer
) -> None:
    """Into its state: it reads Sent again under the new generation; past it (to ``brand``):
    the campaigns are found at Sent and adopted, never created twice, and it reads again."""
    onboarding, _ = _paused_in_review(harness, worker, samples["demo-own-brand-tcr"])
    campaigns = _own_campaigns(harness)
    assert campaigns
    harness.ops.rewind(onboarding, "campaigns", actor="ops", reason="read it again")
    _run(worker, harness)
    assert harness.store.get(onboarding).paused_from == "campaigns"
    assert _reads(harness, onboarding) == [0, 1]
    harness.ops.rewind(onboarding, "brand", actor="ops", reason="campaigns again")
    _run(worker, harness)
    row = harness.store.get(onboarding)
    assert (row.generation, row.paused_from) == (2, "campaigns")
    assert _reads(harness, onboarding) == [0, 1, 2]
    assert _own_campaigns(harness) == campaigns
    assert row.profile_id is not None
    reviewer.approved.add(row.profile_id)
    harness.ops.resume(onboarding, actor="ops", reason="reviewed")
    _run(worker, harness)
    assert harness.store.get(onboarding).state == "submitted"
    with pytest.raises(Exception, match="rewind"):
        harness.ops.rewind(onboarding, "verified", actor="ops", reason="too late")


def test_an_amend_while_paused_in_the_new_step_patches_before_complete(
    harness: Harness, samples: dict[str, Any], worker: Worker, reviewer: Reviewer
) -> None:
    """Paused in the new step's state, the step that PATCHes amended profile fields is still
    ahead in version 2: the description goes out as a PATCH; the channels were not sent yet."""
    onboarding, raw = _paused_in_review(harness, worker, samples["demo-own-brand-tcr"])
    fixed = copy.deepcopy(raw)
    del fixed["profile"]["payment_details"]  # sent with the create: not in an amend
    del fixed["profile"]["whatsapp_business_account"]
    fixed["profile"]["description"] = "Reviewed and amended"
    fixed["brand"]["contact"]["name"] = "Someone Else"
    spec = parse_spec(fixed, today=harness.clock.now().date())
    _, already = harness.ops.amend(onboarding, spec, actor="ops", reason="review")
    details = harness.store.history(onboarding)[-1].details or {}
    assert details["patched"] == ["description"]
    assert already == ["brand.contact.name", "profile.whatsapp_business_account"]
    assert resent_by_rewind_to("brand.contact.name", flow=FLOW_V2) == "incomplete"
    assert resent_by_rewind_to("channels.sending_phone_number", flow=FLOW_V2) == "verified"
    assert resent_by_rewind_to("profile.description", ["description"], FLOW_V2) == "verified"
    profile_id = harness.store.get(onboarding).profile_id
    assert profile_id is not None
    reviewer.approved.add(profile_id)
    harness.ops.resume(onboarding, actor="ops", reason="review")
    _run(worker, harness)
    assert harness.store.get(onboarding).state == "submitted"
    sent = next(p for p in harness.sandbox.snapshot()["profiles"] if p["id"] == profile_id)
    assert sent["description"] == "Reviewed and amended"


def _cli(url: str, *args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(app, ["--db", url, *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_list_and_stuck_take_the_new_state(
    harness: Harness,
    samples: dict[str, Any],
    worker: Worker,
    reviewer: Reviewer,
    database_url_for_test: str,
) -> None:
    """``--state verified`` is a state of version 2 only: the CLI knows it while version 2 is
    registered, and finds the onboarding retrying there."""
    harness.sandbox.faults.configure(
        FaultConfig(scripted=[ScriptedFault(method="POST", path_contains="/complete", times=99)])
    )
    reviewer.everything = True
    onboarding = _start_v2(harness, samples["demo-inherited"])
    worker.tick()  # up to /complete, which Sent answers 503: retried later, in ``verified``
    worker.wait_in_flight()
    row = harness.store.get(onboarding)
    assert (row.state, row.attempts) == ("verified", 1)
    listed = _cli(database_url_for_test, "list", "--json", "--state", "verified")
    assert [r["id"] for r in listed] == [onboarding]
    stuck = _cli(database_url_for_test, "stuck", "--json", "--state", "verified")
    assert [r["key"] for r in stuck] == [row.key]
    FLOWS.unregister(FLOW_V2.version)
    try:
        refused = CliRunner().invoke(
            app, ["--db", database_url_for_test, "list", "--state", "verified"]
        )
        assert refused.exit_code == 2
        assert "unknown state 'verified'" in refused.output
    finally:
        FLOWS.register(FLOW_V2)


def test_the_diagram_of_version_2_draws_the_new_step() -> None:
    """The diagram is built from the flow definition: version 2's shows the new state."""
    drawn = diagram.render_mermaid(FLOW_V2.machine)
    assert "campaigns --> verified: verify_profile" in drawn
    assert "verified --> complete: request_completion" in drawn
    assert "verified" not in diagram.render_mermaid(FLOW.machine)


def test_a_worker_lacking_a_dependency_of_a_step_refuses_to_start(
    harness: Harness, registered: None
) -> None:
    """The new step's dependency is not a constructor argument: a worker not given it, for
    a flow that needs it, refuses to start, naming the step and what it needs."""
    with pytest.raises(ValueError, match=r"verify_profile \(flow 2\) needs profile_reviewer"):
        Worker(harness.store, harness.api, harness.vault, clock=harness.clock)


def test_no_module_of_the_engine_names_a_step_outside_the_steps_and_the_flow() -> None:
    """What the rest of the engine knows of a step, it asks the flow definition: no module
    outside ``workflow/steps`` and ``workflow/flows`` spells a step's name. So adding a step
    needs its module, the flow definition and its tests (three files, as the README says)."""
    names = {step.name for flow in (FLOW, FLOW_V2) for step in flow.steps}
    spelled = []
    for path in sorted((ROOT / "workflow").rglob("*.py")):
        folder = path.relative_to(ROOT / "workflow").parts[0]
        if folder in ("steps", "flows", "sandbox"):  # the sandbox is Sent's side
            continue
        if path.name == "flow_catalogue.py":  # the built-in flow written out for the reads
            continue  # (tests/test_flow_catalogue.py checks it against the flow definition)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                spelled.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}")
    assert spelled == []


def test_an_onboarding_of_an_unknown_flow_version_pauses_saying_so(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """A release that no longer runs an onboarding's flow version pauses it with that reason."""
    onboarding = _start_v2(harness, samples["demo-inherited"])
    harness.run()
    row = harness.store.get(onboarding)
    assert row.state == "needs_attention"
    assert row.last_error is not None
    assert row.last_error["code"] == "FLOW_VERSION_UNKNOWN"
    assert "flow version 2" in row.last_error["reason"]


def test_the_flow_definition_answers_from_what_its_steps_declare() -> None:
    """Which step and state send each section, where the PATCH and the facts live, which step
    creates the profile: read from the steps, so version 2 moves them with the steps."""
    assert {s: FLOW.section_state(s) for s in ("profile", "brand", "campaigns", "channels")} == {
        "profile": "pending", "brand": "incomplete", "campaigns": "brand", "channels": "campaigns",
    }  # fmt: skip
    assert FLOW_V2.section_state("channels") == "verified"
    assert FLOW.profile_update == FLOW_V2.profile_update == ("request_completion", "profile")
    assert FLOW.completion_facts == ("request_completion", "facts")
    assert FLOW.profile_step is not None
    assert FLOW.state_of(FLOW.profile_step.name) == "pending"
    assert FLOW.creates == {
        "create_profile": ("profile", "profile"),
        "attach_campaigns": ("campaign-", "campaigns"),
    }
    assert FLOW_V2.guard_pause("request_completion") == "PREREQUISITES"
    assert FLOW_V2.guard_pause("verify_profile") is None


def test_a_flow_whose_steps_declare_one_meaning_twice_is_refused() -> None:
    """Two steps sending the same section: which one an amend or a rewind means is unclear."""
    twin = dataclasses.replace(verify_profile.STEP, sections=FLOW.path[1].step.sections)
    with pytest.raises(ValueError, match=r"declared twice: section brand \(attach_brand, verify"):
        dataclasses.replace(
            FLOW_V2,
            path=tuple(
                dataclasses.replace(e, step=twin) if e.step.name == "verify_profile" else e
                for e in FLOW_V2.path
            ),
        )


def test_the_registry_holds_each_version_once_and_unions_their_states() -> None:
    """A version is registered once (another definition under it is refused); the states the
    CLI accepts are every registered version's."""
    assert "verified" not in FLOWS.states
    with FLOWS.registered(FLOW_V2):
        assert list(FLOWS) == [1, 2]
        assert "verified" in FLOWS.states
        assert "verified" in FLOWS.path
        assert FLOWS.active_states.index("campaigns") < FLOWS.active_states.index("verified")
        with pytest.raises(ValueError, match="flow version 2 is already registered"):
            FLOWS.register(dataclasses.replace(FLOW_V2, side=()))
    assert list(FLOWS) == [1]
