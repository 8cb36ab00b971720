"""The onboarding state machine: a transition table as data, run by ``transitions``.

::

    pending --create_profile--> incomplete --attach_brand--> brand --attach_campaigns--> campaigns
       --request_completion [prerequisites_met]--> complete --conclude--> submitted | completed

    any active state --pause--> needs_attention --resume--> the state it paused from
    any non-terminal --cancel--> cancelled
    operator: --rewind(target)--> an earlier state of the path

The table (:data:`TRANSITIONS`) is the single definition: the machine, the diagram and the docs
are all built from it. Guards are pure predicates over the trigger's arguments and the flow's own
fields; nothing here does I/O, reads a clock or draws a random number. The engine persists
``state``, ``paused_from`` and ``version``, never a machine object.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from transitions import EventData, Machine, MachineError

from workflow.errors import GuardRejectedError, TransitionError
from workflow.rules import CompletionFacts, Outcome, unmet_prerequisites

__all__ = [
    "ACTIVE_STATES",
    "PATH",
    "STATES",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "TRIGGERS",
    "OnboardingFlow",
    "TransitionRecord",
    "TransitionSpec",
    "replay",
]

#: The happy path, in order. ``rewind`` goes back along it.
PATH: Final = ("pending", "incomplete", "brand", "campaigns", "complete")
TERMINAL_STATES: Final = frozenset({"submitted", "completed", "cancelled"})
#: States a worker acts on (everything on the path); ``needs_attention`` waits for a person.
ACTIVE_STATES: Final = frozenset(PATH)
STATES: Final = (*PATH, "submitted", "completed", "needs_attention", "cancelled")

Guard = Callable[[EventData], bool]


def _named(name: str, test: Guard) -> Guard:
    test.__name__ = name  # the diagram labels guards by name
    test.__qualname__ = name
    return test


def _facts_meet_prerequisites(event: EventData) -> bool:
    facts = event.kwargs.get("facts")
    return isinstance(facts, CompletionFacts) and not unmet_prerequisites(facts)


def _outcome_is(outcome: Outcome) -> Guard:
    return _named(f"outcome_is_{outcome.value}", lambda e: e.kwargs.get("outcome") == outcome)


def _paused_from(state: str) -> Guard:
    return _named(f"paused_from_{state}", lambda e: getattr(e.model, "paused_from", None) == state)


def _target_is(state: str) -> Guard:
    return _named(f"target_is_{state}", lambda e: e.kwargs.get("target") == state)


def _target_before_pause(state: str) -> Guard:
    def test(event: EventData) -> bool:
        paused = getattr(event.model, "paused_from", None)
        return paused in PATH and PATH.index(state) <= PATH.index(paused)

    return _named(f"not_past_paused_state_{state}", test)


_prerequisites_met = _named("prerequisites_met", _facts_meet_prerequisites)


@dataclass(frozen=True, slots=True)
class TransitionSpec:
    """One row of the table: a trigger from one state to another, with its guards."""

    trigger: str
    source: str
    dest: str
    conditions: tuple[Guard, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The row in the form ``transitions.Machine`` takes."""
        return {
            "trigger": self.trigger,
            "source": self.source,
            "dest": self.dest,
            "conditions": list(self.conditions),
        }


def _table() -> tuple[TransitionSpec, ...]:
    rows = [
        TransitionSpec("create_profile", "pending", "incomplete"),
        TransitionSpec("attach_brand", "incomplete", "brand"),
        TransitionSpec("attach_campaigns", "brand", "campaigns"),
        TransitionSpec("request_completion", "campaigns", "complete", (_prerequisites_met,)),
        TransitionSpec("conclude", "complete", "submitted", (_outcome_is(Outcome.SUBMITTED),)),
        TransitionSpec("conclude", "complete", "completed", (_outcome_is(Outcome.COMPLETED),)),
    ]
    rows += [TransitionSpec("pause", state, "needs_attention") for state in PATH]
    rows += [
        TransitionSpec("resume", "needs_attention", state, (_paused_from(state),)) for state in PATH
    ]
    rows += [TransitionSpec("cancel", state, "cancelled") for state in (*PATH, "needs_attention")]
    for index, source in enumerate(PATH):
        rows += [
            TransitionSpec("rewind", source, target, (_target_is(target),))
            for target in PATH[:index]
        ]
    rows += [
        TransitionSpec(
            "rewind", "needs_attention", target, (_target_is(target), _target_before_pause(target))
        )
        for target in PATH
    ]
    return tuple(rows)


TRANSITIONS: Final = _table()
TRIGGERS: Final = tuple(dict.fromkeys(row.trigger for row in TRANSITIONS))


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    """A transition that happened: the fact the audit log stores."""

    trigger: str
    from_state: str
    to_state: str
    version: int


@dataclass
class OnboardingFlow:
    """The machine's model: one onboarding's state, where it paused from, and its version.

    :meth:`fire` is the only way to change it. A refused or invalid trigger raises and leaves
    every field as it was; a successful one moves ``state`` and adds one to ``version``.
    """

    state: str = "pending"
    paused_from: str | None = None
    version: int = 0
    _machine: Machine = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown state {self.state!r}; states are {', '.join(STATES)}")
        self._machine = Machine(
            model=self,
            states=list(STATES),
            transitions=[row.as_dict() for row in TRANSITIONS],
            initial=self.state,
            auto_transitions=False,
            send_event=True,
            queued=True,
            model_attribute="state",
        )

    @property
    def is_terminal(self) -> bool:
        """Whether the onboarding has ended (submitted, completed or cancelled)."""
        return self.state in TERMINAL_STATES

    def allowed_triggers(self) -> list[str]:
        """The triggers that exist from the current state (their guards may still refuse)."""
        return sorted(self._machine.get_triggers(self.state))

    def fire(self, trigger: str, **kwargs: Any) -> TransitionRecord:
        """Fire ``trigger`` with guard arguments (``facts=``, ``outcome=``, ``target=``).

        Raises:
            TransitionError: the trigger does not exist from the current state.
            GuardRejectedError: it exists, but every guard refused; nothing changed.
        """
        before = self.state
        if trigger not in TRIGGERS or trigger not in self._machine.get_triggers(before):
            allowed = ", ".join(self.allowed_triggers()) or "none (terminal)"
            raise TransitionError(
                trigger,
                before,
                f"trigger {trigger!r} is not valid in state {before!r}; allowed: {allowed}",
            )
        try:
            self._machine.events[trigger].trigger(self, **kwargs)
        except MachineError as exc:  # pragma: no cover - guarded by the check above
            raise TransitionError(trigger, before, str(exc)) from exc
        # A queued machine reports success even when every guard refused, and the table has no
        # self-loops, so "the state moved" is the exact test of a transition having happened.
        if self.state == before:
            raise GuardRejectedError(trigger, before, self._refusal_reasons(trigger, kwargs))
        if self.state == "needs_attention":
            self.paused_from = before
        elif before == "needs_attention":
            self.paused_from = None
        self.version += 1
        return TransitionRecord(trigger, before, self.state, self.version)

    def _refusal_reasons(self, trigger: str, kwargs: dict[str, Any]) -> Sequence[str]:
        if trigger == "request_completion":
            facts = kwargs.get("facts")
            if not isinstance(facts, CompletionFacts):
                return ["request_completion needs facts=CompletionFacts(...)"]
            return [f"{p.code}: {p.message}" for p in unmet_prerequisites(facts)]
        if trigger == "conclude":
            return [f"outcome must be 'submitted' or 'completed', got {kwargs.get('outcome')!r}"]
        if trigger == "rewind":
            return [
                f"cannot rewind from {self.state!r} to {kwargs.get('target')!r}: "
                "the target must be an earlier state of the path"
                + (f" (at most {self.paused_from!r})" if self.paused_from else "")
            ]
        if trigger == "resume":
            return [f"cannot resume: paused_from is {self.paused_from!r}"]
        return [f"guard refused {trigger!r}"]


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
