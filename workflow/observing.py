"""What the executor and the worker tell an observer (metrics), with no metrics library here.

The core reports what happened through the :class:`Observer` protocol; ``workflow.metrics``
implements it with ``prometheus-client`` (loaded only by ``onboarding worker --metrics-port``),
and :class:`NullObserver` is the default. :func:`observe_step` turns one step's outcome (its
:class:`~workflow.ports.Change`) into observer calls, so the executor makes one call per step.

(The protocol lives here rather than in :mod:`workflow.ports` to keep that module short.)
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from workflow.ports import UNSET

if TYPE_CHECKING:
    from workflow.executor import StepReport
    from workflow.ports import Checkpoint

__all__ = ["NullObserver", "Observer", "observe_step"]


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
        """An onboarding paused with ``code`` (a person must act)."""
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
        observer.paused(str((entry.details or {}).get("code", "UNKNOWN")))
    finished = change.update.finished_at
    deadline = checkpoint.completion_deadline
    if finished is not UNSET and finished is not None and deadline is not None:
        # The wait began when its deadline was set: completion_timeout before it.
        began = deadline - timedelta(seconds=completion_timeout)
        observer.completion_waited(max(0.0, (change.at - began).total_seconds()))
