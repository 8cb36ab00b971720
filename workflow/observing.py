"""What the executor and the worker tell an observer (metrics), with no metrics library here.

The core reports what happened through the :class:`Observer` protocol; ``workflow.metrics``
implements it with ``prometheus-client`` (loaded only by ``onboarding worker --metrics-port``),
and :class:`NullObserver` is the default. :func:`observe_step` turns one step's outcome (its
:class:`~workflow.ports.Change`) into observer calls, so the executor makes one call per step.

Every value an observer receives comes from a bounded set, so a metrics label can never grow
without bound: states, triggers and steps from the flow definition, outcomes and kinds from the
engine, pause codes from :data:`PAUSE_CODES` (anything else, such as an undocumented code of
Sent's, is ``other``); HTTP statuses are labelled by :func:`status_label`.

(The protocol lives here rather than in :mod:`workflow.ports` to keep that module short.)
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Final, Protocol

from workflow.ports import UNSET

if TYPE_CHECKING:
    from workflow.executor import StepReport
    from workflow.ports import Checkpoint

__all__ = [
    "ENGINE_PAUSE_CODES",
    "PAUSE_CODES",
    "SENT_ERROR_CODES",
    "NullObserver",
    "Observer",
    "observe_step",
    "pause_code_label",
    "status_label",
]

#: The codes the engine pauses with on its own account.
ENGINE_PAUSE_CODES: Final = frozenset(
    {
        "COMMIT_FAILED", "COMPLETION_FAILED", "COMPLETION_TIMEOUT", "FLOW_VERSION_UNKNOWN", "GUARD",
        "OWNERSHIP_UNPROVEN", "PREREQUISITES", "REJECTED", "SECRET_UNAVAILABLE", "SENT_ERROR",
        "STEP_ERROR", "UNEXPECTED_RESPONSE",
    }
)  # fmt: skip
#: Sent's documented error codes for the profile and campaign endpoints (sent-api.md 2.6).
SENT_ERROR_CODES: Final = frozenset(
    {
        "CONFLICT_012", "CONFLICT_013", "INTERNAL_001", "RESOURCE_001", "RESOURCE_005",
        "RESOURCE_014", "VALIDATION_001",
    }
)  # fmt: skip
PAUSE_CODES: Final = ENGINE_PAUSE_CODES | SENT_ERROR_CODES
#: HTTP statuses Sent documents, or the engine treats on their own; others go by their class.
_STATUSES: Final = frozenset(
    {200, 201, 202, 204, 400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504}
)


def pause_code_label(code: str) -> str:
    """``code`` when it is one of :data:`PAUSE_CODES`, else ``other``."""
    return code if code in PAUSE_CODES else "other"


def status_label(status: int | None) -> str:
    """An HTTP status as a label: a documented status itself, another by its class
    (``4xx``), ``none`` without an answer, ``other`` outside 100-599."""
    if status is None:
        return "none"
    if status in _STATUSES:
        return str(status)
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


class Observer(Protocol):
    """Receives what the engine does; every method must be quick and must not raise."""

    def transition(self, from_state: str | None, to_state: str, trigger: str) -> None:
        """A transition was committed."""
        ...

    def attempt(self, step: str, outcome: str, status: int | None, seconds: float) -> None:
        """A step made one API call (``outcome``: ok, retry or failed)."""
        ...

    def retry(self, step: str) -> None:
        """A step failed transiently and will be retried after a backoff."""
        ...

    def paused(self, code: str) -> None:
        """An onboarding paused with ``code`` (a person must act): one of
        :data:`PAUSE_CODES`, or ``other``."""
        ...

    def step_finished(self, step: str, kind: str, seconds: float) -> None:
        """One step ran and committed (``kind``: advance, progress, wait, retry, pause,
        conflict)."""
        ...

    def completion_waited(self, seconds: float) -> None:
        """A wait for Sent's completion result ended with an outcome, after ``seconds``."""
        ...

    def worker_ticked(self, in_flight: int) -> None:
        """The worker is alive and has ``in_flight`` onboardings running."""
        ...


class NullObserver:
    """Observes nothing."""

    def transition(self, from_state: str | None, to_state: str, trigger: str) -> None:
        """Nothing."""

    def attempt(self, step: str, outcome: str, status: int | None, seconds: float) -> None:
        """Nothing."""

    def retry(self, step: str) -> None:
        """Nothing."""

    def paused(self, code: str) -> None:
        """Nothing."""

    def step_finished(self, step: str, kind: str, seconds: float) -> None:
        """Nothing."""

    def completion_waited(self, seconds: float) -> None:
        """Nothing."""

    def worker_ticked(self, in_flight: int) -> None:
        """Nothing."""


def observe_step(
    observer: Observer,
    checkpoint: Checkpoint,
    step: str,
    report: StepReport,
    seconds: float,
    completion_timeout: float,
) -> None:
    """Report one step of ``checkpoint`` (which took ``seconds``) to ``observer``.

    A conflict (another writer committed first) reports its API attempts only: its transition
    did not happen.
    """
    change = report.change
    if change is None:
        return
    for attempt in change.attempts:
        observer.attempt(
            attempt.step, attempt.outcome, attempt.http_status, attempt.latency_ms / 1000
        )
    observer.step_finished(step, report.kind, seconds)
    if report.kind == "conflict":
        return
    if report.kind == "retry":
        observer.retry(step)
    entry = change.transition
    if entry is None:
        return
    observer.transition(entry.from_state, entry.to_state, entry.trigger)
    if entry.trigger == "pause":
        observer.paused(pause_code_label(str((entry.details or {}).get("code", ""))))
    finished = change.update.finished_at
    deadline = checkpoint.completion_deadline
    if finished is not UNSET and finished is not None and deadline is not None:
        # The wait began when its deadline was set: completion_timeout before it.
        began = deadline - timedelta(seconds=completion_timeout)
        observer.completion_waited(max(0.0, (change.at - began).total_seconds()))
