"""The flow definition: the path's transitions and the step that runs in each state, declared once.

Each :class:`FlowStep` names the state a step runs in, the trigger leaving it (with its guard
and destinations) and the step itself (its own module under :mod:`workflow.steps`). The machine
table, the diagram and the rewind targets are all built from this list; what the rest of the
engine asks about steps (which one sends a spec section, which one created the profile, where
an amend's PATCH and the completion facts live) :class:`FlowDefinition` answers from what each
step declares. Adding a step means its module and an entry here, nothing else
(``tests/test_flow_extension.py`` adds one in a second flow version).

Every onboarding stores the :attr:`FlowDefinition.version` it started under; a later release
that changes the flow registers a new definition in :data:`FLOWS` and keeps the old one for
onboardings in flight.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
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
from workflow.steps.base import Need, Section, StepDefinition

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
    "FlowRegistry",
    "FlowStep",
    "unmet_needs",
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

    def __post_init__(self) -> None:
        """Refuse a flow whose steps declare one meaning twice (two steps sending a section,
        two creating the profile, two PATCHing amended fields): nothing could choose."""
        claims: dict[str, list[str]] = {}
        for step in self.steps:
            held = [f"section {s.name}" for s in step.sections]
            held += ["creates_profile"] if step.creates_profile else []
            held += ["amend_update"] if step.amend_update else []
            held += ["amend_rejudge"] if step.amend_rejudge else []
            for meaning in held:
                claims.setdefault(meaning, []).append(step.name)
        twice = [f"{m} ({', '.join(names)})" for m, names in claims.items() if len(names) > 1]
        if twice:
            raise ValueError(f"flow version {self.version}: declared twice: {'; '.join(twice)}")

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

    @property
    def steps(self) -> tuple[StepDefinition, ...]:
        """Every step of the flow, the path's in order, then the side steps."""
        return tuple(entry.step for entry in (*self.path, *self.side))

    def step_named(self, name: str) -> StepDefinition | None:
        """The step called ``name``, if the flow has one."""
        return next((step for step in self.steps if step.name == name), None)

    def state_of(self, step: str) -> str | None:
        """The state the step called ``step`` runs in."""
        return next((e.state for e in (*self.path, *self.side) if e.step.name == step), None)

    def section_owner(self, section: str) -> tuple[StepDefinition, Section] | None:
        """The path's step that sends a spec ``section``, and what it declares of it."""
        for entry in self.path:
            for declared in entry.step.sections:
                if declared.name == section:
                    return entry.step, declared
        return None

    def section_state(self, section: str) -> str | None:
        """The state whose step sends ``section`` (where ``rewind --to`` sends it again)."""
        owner = self.section_owner(section)
        return self.state_of(owner[0].name) if owner is not None else None

    @cached_property
    def creates(self) -> dict[str, tuple[str, str]]:
        """The create items, by step: their prefix and the section their body is made of."""
        return {
            step.name: (section.creates, section.name)
            for step in self.steps
            for section in step.sections
            if section.creates is not None
        }

    @cached_property
    def profile_step(self) -> StepDefinition | None:
        """The step that creates the onboarding's profile."""
        return next((step for step in self.steps if step.creates_profile), None)

    def _item(self, role: str) -> tuple[str, str] | None:
        for step in self.steps:
            item = getattr(step, role)
            if item is not None:
                return step.name, item
        return None

    @cached_property
    def profile_update(self) -> tuple[str, str] | None:
        """The record ``(step, item)`` of the PATCH sending amended profile fields."""
        return self._item("amend_update")

    @cached_property
    def completion_facts(self) -> tuple[str, str] | None:
        """The record ``(step, item)`` judged again after that PATCH (the completion facts)."""
        return self._item("amend_rejudge")

    def resent_on_rewind(self, step: str, item: str) -> bool:
        """Whether a rewind sends the item again under its new key, without looking first."""
        found = self.step_named(step)
        return found is not None and item in found.rewind_resend

    def guard_pause(self, trigger: str) -> str | None:
        """The pause code of the step whose trigger's guard refused, if it declares one."""
        entry = next((e for e in (*self.path, *self.side) if e.trigger == trigger), None)
        return entry.step.guard_pause if entry is not None else None


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


class FlowRegistry(Mapping[int, FlowDefinition]):
    """The flow definitions a release runs, by version; the workers, operators, bulk actions
    and the CLI ask it (each onboarding's own version, or every version's states)."""

    def __init__(self, *flows: FlowDefinition) -> None:
        self._flows: dict[int, FlowDefinition] = {}
        for flow in flows:
            self.register(flow)

    def __getitem__(self, version: int) -> FlowDefinition:
        return self._flows[version]

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._flows))

    def __len__(self) -> int:
        return len(self._flows)

    def register(self, flow: FlowDefinition) -> None:
        """Run ``flow`` too (a new version beside the ones in flight).

        Raises:
            ValueError: another definition holds that version.
        """
        held = self._flows.get(flow.version)
        if held is not None and held is not flow:
            raise ValueError(f"flow version {flow.version} is already registered")
        self._flows[flow.version] = flow

    def unregister(self, version: int) -> None:
        """Stop running ``version`` (its onboardings pause with ``FLOW_VERSION_UNKNOWN``)."""
        self._flows.pop(version, None)

    @contextmanager
    def registered(self, flow: FlowDefinition) -> Iterator[FlowDefinition]:
        """``flow`` registered for the ``with`` block only."""
        self.register(flow)
        try:
            yield flow
        finally:
            self.unregister(flow.version)

    def _union(self, pick: str) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for version in self:
            seen.update(dict.fromkeys(getattr(self[version].machine, pick)))
        return tuple(seen)

    @property
    def states(self) -> tuple[str, ...]:
        """Every state of every version, the oldest version's order first."""
        return self._union("states")

    @property
    def path(self) -> tuple[str, ...]:
        """Every path state of every version (the targets a rewind may name)."""
        return self._union("path")

    @property
    def active_states(self) -> tuple[str, ...]:
        """Every state of every version where a step runs."""
        active = {s for version in self for s in self[version].machine.active_states}
        return tuple(s for s in self.states if s in active)


#: Every flow definition this release runs, by version.
FLOWS: Final = FlowRegistry(FLOW)

PATH: Final = FLOW.machine.path
STATES: Final = FLOW.machine.states
TERMINAL_STATES: Final = FLOW.machine.terminal_states
ACTIVE_STATES: Final = FLOW.machine.active_states
TRANSITIONS: Final = FLOW.machine.transitions
TRIGGERS: Final = FLOW.machine.triggers


def unmet_needs(flows: Mapping[int, FlowDefinition], given: Collection[Need[Any]]) -> list[str]:
    """What the steps of ``flows`` need and ``given`` lacks, one line per step."""
    missing = {}
    for version in flows:
        for step in flows[version].steps:
            lacking = [need.name for need in step.needs if need not in given]
            if lacking:
                missing[step.name] = f"{step.name} (flow {version}) needs {', '.join(lacking)}"
    return list(missing.values())
