"""The flow definition: the path's transitions and the step that runs in each state, declared once.

Each :class:`FlowStep` names the state a step runs in, the trigger leaving it (with its guard
and destinations) and the step itself (its own module under :mod:`workflow.steps`). The machine
table, the diagram and the rewind targets are all built from this list, so adding a step means
one module and one entry here (``tests/test_flow_extension.py`` adds one).

Every onboarding stores the :attr:`FlowDefinition.version` it started under; a later release
that changes the flow adds a new definition and keeps the old one for onboardings in flight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

from transitions import EventData

from workflow.core.machine import Guard, MachineDefinition, TransitionSpec, named
from workflow.core.rules import CompletionFacts, Outcome, unmet_prerequisites
from workflow.steps import (
    attach_brand,
    attach_campaigns,
    await_outcome,
    create_profile,
    delete_profile,
    request_completion,
)
from workflow.steps.base import StepDefinition

__all__ = [
    "ACTIVE_STATES",
    "FLOW",
    "FLOWS",
    "PATH",
    "STATES",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "TRIGGERS",
    "FlowDefinition",
    "FlowStep",
]


def _facts_meet_prerequisites(event: EventData) -> bool:
    facts = event.kwargs.get("facts")
    return isinstance(facts, CompletionFacts) and not unmet_prerequisites(facts)


def _outcome_is(outcome: Outcome) -> Guard:
    return named(f"outcome_is_{outcome.value}", lambda e: e.kwargs.get("outcome") == outcome)


prerequisites_met: Final = named("prerequisites_met", _facts_meet_prerequisites)


def _prerequisite_refusals(kwargs: dict[str, Any]) -> Sequence[str]:
    facts = kwargs.get("facts")
    if not isinstance(facts, CompletionFacts):
        return ["request_completion needs facts=CompletionFacts(...)"]
    return [f"{p.code}: {p.message}" for p in unmet_prerequisites(facts)]


def _outcome_refusals(kwargs: dict[str, Any]) -> Sequence[str]:
    return [f"outcome must be 'submitted' or 'completed', got {kwargs.get('outcome')!r}"]


@dataclass(frozen=True)
class FlowStep:
    """The step that runs in ``state``, and the transitions its trigger may take:
    ``(dest, guard)`` pairs."""

    state: str
    step: StepDefinition
    trigger: str
    dests: tuple[tuple[str, Guard | None], ...]

    def rows(self) -> list[TransitionSpec]:
        """The table rows this entry contributes."""
        return [
            TransitionSpec(self.trigger, self.state, dest, (guard,) if guard else ())
            for dest, guard in self.dests
        ]


@dataclass(frozen=True)
class FlowDefinition:
    """A versioned flow: the path's steps in order, plus side steps (off the path)."""

    version: int
    path: tuple[FlowStep, ...]
    side: tuple[FlowStep, ...] = ()
    refusals: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def machine(self) -> MachineDefinition:
        """The whole transition table for this flow."""
        return MachineDefinition(
            forward=tuple(row for entry in self.path for row in entry.rows()),
            side=tuple(row for entry in self.side for row in entry.rows()),
            refusals=dict(self.refusals),
        )

    @cached_property
    def _steps(self) -> dict[str, StepDefinition]:
        return {entry.state: entry.step for entry in (*self.path, *self.side)}

    def step_for(self, state: str) -> StepDefinition | None:
        """The step that runs in ``state`` (``None`` for paused and terminal states)."""
        return self._steps.get(state)

    def steps_from(self, state: str) -> frozenset[str]:
        """Names of the steps of ``state`` and every later state of the path."""
        path = self.machine.path
        if state not in path:
            return frozenset()
        return frozenset(self._steps[s].name for s in path[path.index(state) :])


FLOW: Final = FlowDefinition(
    version=1,
    path=(
        FlowStep("pending", create_profile.STEP, "create_profile", (("incomplete", None),)),
        FlowStep("incomplete", attach_brand.STEP, "attach_brand", (("brand", None),)),
        FlowStep("brand", attach_campaigns.STEP, "attach_campaigns", (("campaigns", None),)),
        FlowStep(
            "campaigns",
            request_completion.STEP,
            "request_completion",
            (("complete", prerequisites_met),),
        ),
        FlowStep(
            "complete",
            await_outcome.STEP,
            "conclude",
            (
                ("submitted", _outcome_is(Outcome.SUBMITTED)),
                ("completed", _outcome_is(Outcome.COMPLETED)),
            ),
        ),
    ),
    side=(FlowStep("cancelling", delete_profile.STEP, "delete_profile", (("cancelled", None),)),),
    refusals={"request_completion": _prerequisite_refusals, "conclude": _outcome_refusals},
)
#: Every flow definition this release can run, by version.
FLOWS: Final[Mapping[int, FlowDefinition]] = {FLOW.version: FLOW}

PATH: Final = FLOW.machine.path
STATES: Final = FLOW.machine.states
TERMINAL_STATES: Final = FLOW.machine.terminal_states
ACTIVE_STATES: Final = FLOW.machine.active_states
TRANSITIONS: Final = FLOW.machine.transitions
TRIGGERS: Final = FLOW.machine.triggers
