"""View models of the onboarding page: what it waits on, its timeline, its diagram, and the
actions its state allows (asked of the machine itself, never listed here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from workflow.console.filters import age
from workflow.core.errors import OnboardingError
from workflow.core.machine import OnboardingFlow
from workflow.flows import FLOW, FLOWS

__all__ = ["Actions", "Event", "actions_for", "diagram_svg", "timeline", "waiting_on"]

#: The operator actions the page offers, in the order shown.
ACTIONS: Final = ("resume", "retry", "rewind", "cancel", "amend")


@dataclass(frozen=True)
class Event:
    """One line of the timeline: a transition or an HTTP attempt."""

    at: datetime
    kind: str  # "transition" or "attempt"
    row: Mapping[str, Any]


def timeline(
    transitions: Sequence[Mapping[str, Any]], attempts: Sequence[Mapping[str, Any]]
) -> list[Event]:
    """Transitions and attempts in time order (a transition before attempts at its instant)."""
    events = [Event(t["at"], "transition", t) for t in transitions]
    events += [Event(a["at"], "attempt", a) for a in attempts]
    return sorted(events, key=lambda e: (e.at, e.kind != "transition"))


def waiting_on(
    row: Mapping[str, Any], lease_worker: Mapping[str, Any] | None, now: datetime
) -> list[str]:
    """What the onboarding waits on now, in sentences."""
    lines: list[str] = []
    error = row.get("last_error") or {}
    if row.get("finished_at") is not None:
        return [f"nothing: it ended {row['state']} {age(row['finished_at'], now)}"]
    if row.get("next_attempt_at") is None:
        code = error.get("code") or "no code"
        why = error.get("reason") or error.get("message") or "paused without a reason"
        lines.append(f"a person: paused ({code}) in {row.get('paused_from')}: {why}")
    elif row.get("attempts"):
        lines.append(
            f"its next try ({row['attempts'] + 1}) {age(row['next_attempt_at'], now)}, after: "
            f"{error.get('message') or error.get('code') or 'a failure'}"
        )
    elif row.get("wake_on_callback"):
        lines.append(
            f"Sent's completion result; next status read {age(row['next_attempt_at'], now)}"
        )
    else:
        lines.append(f"a worker to run its step, due {age(row['next_attempt_at'], now)}")
    if row.get("completion_deadline") is not None:
        lines.append(f"completion deadline {age(row['completion_deadline'], now)}")
    if row.get("lease_owner"):
        expires = row.get("lease_expires_at")
        seen = lease_worker.get("last_seen") if lease_worker else None
        lines.append(
            f"leased by {row['lease_owner']} until {age(expires, now)}"
            + (f"; its last heartbeat {age(seen, now)}" if seen else "; no heartbeat row")
        )
    return lines


def diagram_svg(row: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> str:
    """The flow's diagram with the current state, the states visited and the path taken."""
    from workflow.flows.diagram import render_svg

    flow = FLOWS.get(int(row.get("flow_version") or FLOW.version), FLOW)
    visited = {t["to_state"] for t in history} | {
        t["from_state"] for t in history if t["from_state"]
    }
    taken = [(t["from_state"], t["to_state"]) for t in history if t["from_state"]]
    return render_svg(flow.machine, current=row["state"], visited=visited, taken=taken)


@dataclass(frozen=True)
class Actions:
    """What an operator can do to one onboarding now."""

    names: tuple[str, ...] = ()
    rewind_targets: tuple[str, ...] = ()
    cancel_deletes: bool = False
    candidates: tuple[str, ...] = field(default_factory=tuple)


def actions_for(row: Mapping[str, Any]) -> Actions:
    """The actions the machine accepts from this state (guards included)."""
    flow = FLOWS.get(int(row.get("flow_version") or FLOW.version), FLOW)

    def applies(trigger: str, **kwargs: Any) -> bool:
        machine = OnboardingFlow(row["state"], row.get("paused_from"), definition=flow.machine)
        try:
            machine.check(trigger, **kwargs)
        except OnboardingError:
            return False
        return True

    targets = tuple(t for t in flow.machine.path if applies("rewind", target=t))
    can = {
        "rewind": bool(targets),
        "cancel": applies("cancel", delete_at_sent=False),
        **{a: applies(a) for a in ("resume", "retry", "amend")},
    }
    names = tuple(a for a in ACTIONS if can[a])
    error = row.get("last_error") or {}
    candidates = tuple(
        str(c.get("id")) for c in error.get("candidates") or () if isinstance(c, dict)
    )
    return Actions(
        names=names, rewind_targets=targets,
        cancel_deletes=applies("cancel", delete_at_sent=True) and bool(row.get("profile_id")),
        candidates=candidates if error.get("code") == "OWNERSHIP_UNPROVEN" else (),
    )  # fmt: skip
