"""The onboarding state machine: a transition table as data, run by ``transitions``.

The flow definition (:mod:`workflow.flows`) declares the forward path, one row per step::

    pending --create_profile--> incomplete --attach_brand--> brand --attach_campaigns--> campaigns
       --request_completion [prerequisites_met]--> complete --conclude--> submitted | completed

and :class:`MachineDefinition` adds the rows every flow has, for operators and failures::

    any active state --pause--> needs_attention --resume | retry--> the state it paused from
    any active state --retry--> itself (run the step again now)
    pending, needs_attention --amend--> itself (a corrected spec)
    any non-terminal --cancel--> cancelled, or --cancel [deletes_at_sent]--> cancelling
    cancelling --delete_profile--> cancelled
    operator: --rewind(target)--> an earlier state of the path

Guards are pure predicates over the trigger's arguments and the model's own fields; nothing here
does I/O, reads a clock or draws a random number. The engine persists ``state``, ``paused_from``
and ``version``, never a machine object.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

from transitions import Event, EventData, Machine

from workflow.core.errors import GuardRejectedError, TransitionError

__all__ = [
    "OPERATOR_TRIGGERS",
    "Guard",
    "MachineDefinition",
    "OnboardingFlow",
    "TransitionRecord",
    "TransitionSpec",
    "named",
    "replay",
]

Guard = Callable[[EventData], bool]
PAUSED: Final = "needs_attention"
CANCELLING: Final = "cancelling"
CANCELLED: Final = "cancelled"
#: Triggers people fire (the CLI and the management API); every other one is a step's.
OPERATOR_TRIGGERS: Final = frozenset({"resume", "retry", "rewind", "cancel", "amend"})


def named(name: str, test: Guard) -> Guard:
    """Give a guard the name the diagram and the refusal messages show."""
    test.__name__ = name
    test.__qualname__ = name
    return test


def _paused_from(state: str) -> Guard:
    return named(f"paused_from_{state}", lambda e: getattr(e.model, "paused_from", None) == state)


def _target_is(state: str) -> Guard:
    return named(f"target_is_{state}", lambda e: e.kwargs.get("target") == state)


_deletes_at_sent = named("deletes_at_sent", lambda e: bool(e.kwargs.get("delete_at_sent")))


@dataclass(frozen=True, slots=True)
class TransitionSpec:
    """One row of the table: a trigger from one state to another, with its guards."""

    trigger: str
    source: str
    dest: str
    conditions: tuple[Guard, ...] = ()
    unless: tuple[Guard, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The row in the form ``transitions.Machine`` takes."""
        return {
            "trigger": self.trigger,
            "source": self.source,
            "dest": self.dest,
            "conditions": list(self.conditions),
            "unless": list(self.unless),
        }


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    """A transition that happened: the fact the audit log stores."""

    trigger: str
    from_state: str
    to_state: str
    version: int


class _Model:
    """The object a cached machine moves; :class:`OnboardingFlow` copies its fields in and out."""

    state: str
    paused_from: str | None = None


@dataclass(frozen=True)
class MachineDefinition:
    """A complete transition table, built from a flow's forward rows.

    Attributes:
        forward: the steps' rows, in path order (their sources form :attr:`path`).
        side: rows of states off the path that a step runs in (``cancelling``).
        refusals: trigger -> a function explaining a guard's refusal from the trigger arguments.
    """

    forward: tuple[TransitionSpec, ...]
    side: tuple[TransitionSpec, ...] = ()
    refusals: dict[str, Callable[[dict[str, Any]], Sequence[str]]] = field(default_factory=dict)

    @cached_property
    def path(self) -> tuple[str, ...]:
        """The forward states in order; rewind goes back along it."""
        return tuple(dict.fromkeys(row.source for row in self.forward))

    @cached_property
    def active_states(self) -> frozenset[str]:
        """States a worker acts on: the path and the side states a step runs in."""
        return frozenset((*self.path, *(row.source for row in self.side)))

    @cached_property
    def terminal_states(self) -> frozenset[str]:
        """States nothing leaves: the outcomes of the last step, and ``cancelled``."""
        ends = {row.dest for row in (*self.forward, *self.side)} - self.active_states
        return frozenset(ends - {PAUSED} | {CANCELLED})

    @cached_property
    def states(self) -> tuple[str, ...]:
        """Every state, path first."""
        rest = sorted(self.terminal_states - {CANCELLED})
        sides = sorted(self.active_states - set(self.path))
        return (*self.path, *rest, PAUSED, *sides, CANCELLED)

    @cached_property
    def transitions(self) -> tuple[TransitionSpec, ...]:
        """The whole table: forward rows, side rows, then the rows every flow has."""
        rows = [*self.forward, *self.side]
        active = sorted(self.active_states, key=self.states.index)
        rows += [TransitionSpec("pause", state, PAUSED) for state in active]
        rows += [
            TransitionSpec("resume", PAUSED, state, (_paused_from(state),)) for state in active
        ]
        rows += [TransitionSpec("retry", state, state) for state in active]
        rows += [TransitionSpec("retry", PAUSED, state, (_paused_from(state),)) for state in active]
        rows += [TransitionSpec("amend", state, state) for state in (self.path[0], PAUSED)]
        cancellable = [*self.path, PAUSED]
        rows += [
            TransitionSpec("cancel", state, CANCELLING, (_deletes_at_sent,))
            for state in cancellable
        ]
        rows += [
            TransitionSpec("cancel", state, CANCELLED, unless=(_deletes_at_sent,))
            for state in (*cancellable, *sorted(self.active_states - set(self.path)))
        ]
        for index, source in enumerate(self.path):
            rows += [
                TransitionSpec("rewind", source, target, (_target_is(target),))
                for target in self.path[:index]
            ]
        rows += [
            TransitionSpec(
                "rewind", PAUSED, target, (_target_is(target), self._not_past_pause(target))
            )
            for target in self.path
        ]
        return tuple(rows)

    @cached_property
    def triggers(self) -> tuple[str, ...]:
        """Every trigger name, in table order."""
        return tuple(dict.fromkeys(row.trigger for row in self.transitions))

    @cached_property
    def _by_source(self) -> dict[str, frozenset[str]]:
        found: dict[str, set[str]] = {}
        for row in self.transitions:
            found.setdefault(row.source, set()).add(row.trigger)
        return {state: frozenset(triggers) for state, triggers in found.items()}

    def triggers_from(self, state: str) -> frozenset[str]:
        """The triggers that exist from ``state`` (their guards may still refuse)."""
        return self._by_source.get(state, frozenset())

    def step_trigger(self, state: str) -> str | None:
        """The trigger the step of ``state`` fires, read from the table (not an operator's)."""
        for row in (*self.forward, *self.side):
            if row.source == state:
                return row.trigger
        return None

    def _not_past_pause(self, state: str) -> Guard:
        path = self.path

        def test(event: EventData) -> bool:
            paused = getattr(event.model, "paused_from", None)
            return paused in path and path.index(state) <= path.index(paused)

        return named(f"not_past_paused_state_{state}", test)

    def _lend(self) -> tuple[Machine, _Model]:
        """An idle machine of this table and the model it moves, built when every one is in
        use; give it back with :meth:`_give_back`. Building one costs far more than firing, and
        one per thread would keep a copy for each of a worker's step threads: the pool holds as
        many as ever fired at once (one or two), and a thread switched out while firing holds
        up no other."""
        pool = _IDLE.get(id(self))
        if pool is None:
            pool = _IDLE.setdefault(id(self), ([], self))  # keeps self alive
        try:
            return pool[0].pop()  # atomic: no two threads get the same machine
        except IndexError:
            model = _Model()
            machine = Machine(
                model=model,
                states=list(self.states),
                transitions=[row.as_dict() for row in self.transitions],
                initial=self.path[0],
                auto_transitions=False,
                send_event=True,
                model_attribute="state",
            )
            return machine, model

    def _give_back(self, lent: tuple[Machine, _Model]) -> None:
        _IDLE[id(self)][0].append(lent)


#: Each table's idle machines (by the definition's id), with the definition they belong to.
_IDLE: dict[int, tuple[list[tuple[Machine, _Model]], MachineDefinition]] = {}


class OnboardingFlow:
    """One onboarding's state, where it paused from, and its version, on a definition's table.

    :meth:`fire` is the only way to change it. A refused or invalid trigger raises and leaves
    every field as it was; a successful one sets ``state`` and adds one to ``version``.
    """

    def __init__(
        self,
        state: str | None = None,
        paused_from: str | None = None,
        version: int = 0,
        *,
        definition: MachineDefinition,
    ) -> None:
        self.definition = definition
        self.state = state or definition.path[0]
        if self.state not in definition.states:
            raise ValueError(
                f"unknown state {self.state!r}; states are {', '.join(definition.states)}"
            )
        self.paused_from = paused_from
        self.version = version

    @property
    def is_terminal(self) -> bool:
        """Whether the onboarding has ended (an outcome, or cancelled)."""
        return self.state in self.definition.terminal_states

    def allowed_triggers(self) -> list[str]:
        """The triggers that exist from the current state (their guards may still refuse)."""
        return sorted(self.definition.triggers_from(self.state))

    def check(self, trigger: str, **kwargs: Any) -> None:
        """Raise as :meth:`fire` would, without changing anything (guards before side effects)."""
        self._evaluate(trigger, kwargs, commit=False)

    def fire(self, trigger: str, **kwargs: Any) -> TransitionRecord:
        """Fire ``trigger`` with guard arguments (``facts=``, ``outcome=``, ``target=`` ...).

        Raises:
            TransitionError: the trigger does not exist from the current state.
            GuardRejectedError: it exists, but every guard refused; nothing changed.
        """
        before = self.state
        after = self._evaluate(trigger, kwargs, commit=True)
        if after == PAUSED and before != PAUSED:
            self.paused_from = before
        elif before == PAUSED and after != PAUSED:
            self.paused_from = None
        self.state = after
        self.version += 1
        return TransitionRecord(trigger, before, after, self.version)

    def _evaluate(self, trigger: str, kwargs: dict[str, Any], *, commit: bool) -> str:
        before = self.state
        if trigger not in self.definition.triggers_from(before):
            allowed = ", ".join(self.allowed_triggers()) or "none (terminal)"
            raise TransitionError(
                trigger,
                before,
                f"trigger {trigger!r} is not valid in state {before!r}; allowed: {allowed}",
            )
        lent = machine, model = self.definition._lend()
        try:
            machine.set_state(before, model)
            model.paused_from = self.paused_from
            event = machine.events[trigger]
            # Self-loops (retry, amend) leave the state as it was, so whether a row's guards
            # passed is what the event answers, not the state: a refusal raises before anything
            # moves. Firing asks the guards once, in ``Event.trigger``.
            passed = event.trigger(model, **kwargs) if commit else _passes(event, model, kwargs)
            after = model.state
        finally:
            self.definition._give_back(lent)
        if not passed:
            raise GuardRejectedError(trigger, before, self._refusal_reasons(trigger, kwargs))
        return after

    def _refusal_reasons(self, trigger: str, kwargs: dict[str, Any]) -> Sequence[str]:
        explain = self.definition.refusals.get(trigger)
        if explain is not None:
            return explain(kwargs)
        if trigger == "rewind":
            return [
                f"cannot rewind from {self.state!r} to {kwargs.get('target')!r}: "
                "the target must be an earlier state of the path"
                + (f" (at most {self.paused_from!r})" if self.paused_from else "")
            ]
        if trigger in ("resume", "retry"):
            return [f"cannot {trigger}: paused_from is {self.paused_from!r}"]
        return [f"guard refused {trigger!r}"]


def _passes(event: Event, model: _Model, kwargs: dict[str, Any]) -> bool:
    """Whether one of ``event``'s rows from the model's state would fire with ``kwargs`` (as
    ``Machine.may_<trigger>`` answers, without its scan of every other trigger)."""
    machine = event.machine
    state = machine.get_model_state(model)
    data = EventData(state, event, machine, model, (), kwargs)
    for row in event.transitions[state.name]:
        data.transition = row
        if all(condition.check(data) for condition in row.conditions):
            return True
    return False


def replay(records: Sequence[TransitionRecord], initial: str = "pending") -> str:
    """The state an audit log leads to, checking that each record starts where the last ended.

    Raises:
        ValueError: when the log has a gap (a record whose ``from_state`` is not the current one).
    """
    state = initial
    for record in records:
        if record.from_state != state:
            raise ValueError(
                f"audit log gap at version {record.version}: expected from {state!r}, "
                f"got {record.from_state!r}"
            )
        state = record.to_state
    return state
