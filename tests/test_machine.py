"""The onboarding state machine: its table, guards, pause/resume, rewind and invariants."""

from __future__ import annotations

import dataclasses
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from workflow.core.errors import GuardRejectedError, TransitionError
from workflow.core.machine import _IDLE, OnboardingFlow, TransitionRecord, replay
from workflow.core.rules import CompletionFacts, Outcome
from workflow.flows import FLOW, PATH, STATES, TERMINAL_STATES, TRIGGERS

READY = CompletionFacts(
    profile_complete=True, inherit_tcr_brand=True, inherit_tcr_campaign=True, has_own_brand=False,
    parent_has_brand=True, is_tcr_application=False, has_own_campaigns=False,
    parent_has_campaigns=True, has_sms=True, has_whatsapp=False, has_main_destination_country=False,
)  # fmt: skip


def _walk_to(flow: OnboardingFlow, state: str) -> None:
    steps = {
        "incomplete": "create_profile",
        "brand": "attach_brand",
        "campaigns": "attach_campaigns",
    }
    for target in PATH[1 : PATH.index(state) + 1]:
        if target == "complete":
            flow.fire("request_completion", facts=READY)
        else:
            flow.fire(steps[target])


def test_happy_path_to_each_outcome() -> None:
    """The path runs pending -> ... -> complete and concludes in the observed outcome."""
    for outcome in Outcome:
        flow = OnboardingFlow(definition=FLOW.machine)
        _walk_to(flow, "complete")
        record = flow.fire("conclude", outcome=outcome)
        assert record == TransitionRecord("conclude", "complete", outcome.value, 5)
        assert flow.is_terminal


def test_flows_on_one_table_fire_from_many_threads_at_once() -> None:
    """The table's machines are lent to one thread at a time: each flow moves along its own
    path, its guards judging its own arguments, whatever the others do meanwhile; no more
    machines are kept than threads fired at once."""
    outcomes = list(Outcome) * 64

    def run(outcome: Outcome) -> tuple[str, int, bool]:
        flow = OnboardingFlow(definition=FLOW.machine)
        _walk_to(flow, "complete")
        refused = False
        try:
            flow.fire("request_completion", facts=READY)  # not valid from complete
        except TransitionError:
            refused = True
        flow.fire("conclude", outcome=outcome)
        return flow.state, flow.version, refused

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns between nearly every bytecode
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(run, outcomes))
    finally:
        sys.setswitchinterval(interval)
    assert results == [(outcome.value, 5, True) for outcome in outcomes]
    assert 1 <= len(_IDLE[id(FLOW.machine)][0]) <= 16


def test_invalid_trigger_raises_clear_error_and_changes_nothing() -> None:
    """A trigger that does not exist in the current state raises TransitionError naming both."""
    flow = OnboardingFlow(definition=FLOW.machine)
    with pytest.raises(TransitionError, match="'attach_brand' is not valid in state 'pending'"):
        flow.fire("attach_brand")
    with pytest.raises(
        TransitionError, match=r"allowed: amend, cancel, create_profile, pause, retry$"
    ):
        flow.fire("no_such_trigger")
    assert (flow.state, flow.version) == ("pending", 0)


def test_unmet_prerequisites_refuse_completion_with_every_reason() -> None:
    """request_completion's guard refuses with every unmet prerequisite named."""
    flow = OnboardingFlow(definition=FLOW.machine)
    _walk_to(flow, "campaigns")
    facts = dataclasses.replace(READY, profile_complete=False, parent_has_brand=False)
    with pytest.raises(GuardRejectedError) as caught:
        flow.fire("request_completion", facts=facts)
    assert [r.split(":")[0] for r in caught.value.reasons] == [
        "PROFILE_INCOMPLETE",
        "PARENT_BRAND_MISSING",
    ]
    assert (flow.state, flow.version) == ("campaigns", 3)


def test_conclude_needs_a_known_outcome() -> None:
    """conclude refuses an outcome other than submitted or completed."""
    flow = OnboardingFlow(definition=FLOW.machine)
    _walk_to(flow, "complete")
    with pytest.raises(GuardRejectedError, match="outcome must be"):
        flow.fire("conclude", outcome="rejected")
    assert flow.state == "complete"


@pytest.mark.parametrize("state", PATH)
def test_pause_remembers_and_resume_returns(state: str) -> None:
    """Pause remembers the state it paused from; resume goes back there."""
    flow = OnboardingFlow(definition=FLOW.machine)
    _walk_to(flow, state)
    flow.fire("pause")
    assert (flow.state, flow.paused_from) == ("needs_attention", state)
    flow.fire("resume")
    assert (flow.state, flow.paused_from) == (state, None)


def test_rewind_goes_only_backwards() -> None:
    """Rewind reaches an earlier state; a later (or the same) target is refused."""
    flow = OnboardingFlow(definition=FLOW.machine)
    _walk_to(flow, "campaigns")
    with pytest.raises(GuardRejectedError):
        flow.fire("rewind", target="complete")
    flow.fire("rewind", target="incomplete")
    assert flow.state == "incomplete"


def test_rewind_from_pause_is_bounded_by_the_paused_state() -> None:
    """From needs_attention, rewind may target the paused state or earlier, never later."""
    flow = OnboardingFlow(definition=FLOW.machine)
    _walk_to(flow, "brand")
    flow.fire("pause")
    with pytest.raises(GuardRejectedError, match="at most 'brand'"):
        flow.fire("rewind", target="campaigns")
    flow.fire("rewind", target="brand")
    assert (flow.state, flow.paused_from) == ("brand", None)


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATES))
def test_terminal_states_absorb(terminal: str) -> None:
    """No trigger leaves submitted, completed or cancelled."""
    flow = OnboardingFlow(state=terminal, definition=FLOW.machine)
    assert flow.allowed_triggers() == []
    for trigger in TRIGGERS:
        with pytest.raises(TransitionError):
            flow.fire(trigger, target="pending", outcome=Outcome.COMPLETED, facts=READY)


def test_unknown_state_is_refused() -> None:
    """A stored state outside the table is an error, not a silent reset."""
    with pytest.raises(ValueError, match="unknown state 'archived'"):
        OnboardingFlow(state="archived", definition=FLOW.machine)


def test_replay_detects_gaps() -> None:
    """Replaying a log with a missing record fails loudly."""
    records = [
        TransitionRecord("create_profile", "pending", "incomplete", 1),
        TransitionRecord("attach_campaigns", "brand", "campaigns", 3),
    ]
    with pytest.raises(ValueError, match="gap at version 3"):
        replay(records)


TRIGGER_ARGS: dict[str, Any] = {
    "facts": st.sampled_from([READY, dataclasses.replace(READY, profile_complete=False)]),
    "outcome": st.sampled_from([Outcome.SUBMITTED, Outcome.COMPLETED, "rejected"]),
    "target": st.sampled_from(STATES),
}


class FlowInvariants(RuleBasedStateMachine):
    """Random triggers with random arguments never break the machine's invariants."""

    def __init__(self) -> None:
        super().__init__()
        self.flow = OnboardingFlow(definition=FLOW.machine)
        self.log: list[TransitionRecord] = []
        self.last_version = 0

    @rule(
        trigger=st.sampled_from((*TRIGGERS, "bogus")),
        facts=TRIGGER_ARGS["facts"],
        outcome=TRIGGER_ARGS["outcome"],
        goal=TRIGGER_ARGS["target"],
    )
    def fire(self, trigger: str, facts: CompletionFacts, outcome: str, goal: str) -> None:
        before = (self.flow.state, self.flow.paused_from, self.flow.version)
        was_terminal = self.flow.is_terminal
        try:
            record = self.flow.fire(trigger, facts=facts, outcome=outcome, target=goal)
        except TransitionError:
            # a rejected trigger changes nothing
            assert (self.flow.state, self.flow.paused_from, self.flow.version) == before
            return
        assert not was_terminal, "terminal states absorb"
        assert record.from_state == before[0]
        assert record.version == before[2] + 1
        self.log.append(record)

    @invariant()
    def state_is_valid(self) -> None:
        assert self.flow.state in STATES
        assert (self.flow.paused_from is not None) == (self.flow.state == "needs_attention")

    @invariant()
    def version_only_grows(self) -> None:
        assert self.flow.version >= self.last_version
        assert self.flow.version == len(self.log)
        self.last_version = self.flow.version

    @invariant()
    def replaying_the_log_gives_the_state(self) -> None:
        assert replay(self.log) == self.flow.state


TestFlowInvariants = FlowInvariants.TestCase
TestFlowInvariants.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
