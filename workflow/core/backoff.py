"""When to try a failed step again: exponential backoff with full jitter, bounded by time.

Transient failures (connection errors, timeouts, 408, 409, 429, 5xx) are retried until
``max_elapsed`` has passed since the first failure of the step: the default rides out an hour of
Sent being down, and no single wait exceeds ``cap`` (Temporal's default retry policy also
retries with a 100 s cap until told otherwise). ``max_attempts`` is a generous backstop, not
the budget. Failures that are not Sent being unavailable (a reply of the wrong shape, a bug in
a step) get a short budget of their own, ``max_unexpected``: retrying them for an hour would
only hide them.

:func:`exponential` is the one schedule: :class:`RetryPolicy` draws its jittered waits under
it (full jitter for a step's retries; :meth:`RetryPolicy.spread`, equal jitter, for the worker
waiting on its database and for its holds), and :class:`Backoff` counts the failures of a loop
that waits on one resource (a subscriber on its handler) and gives the next wait.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff", "RetryPolicy", "exponential"]


def exponential(failures: int, initial: float, cap: float, multiplier: float = 2.0) -> float:
    """The wait after ``failures`` failures in a row: ``initial`` after the first, multiplied
    by ``multiplier`` after each further one, never over ``cap`` (0 failures: 0)."""
    if failures <= 0:
        return 0.0
    return min(cap, initial * multiplier ** min(failures - 1, 64))


@dataclass(slots=True)
class Backoff:
    """Failures in a row of one loop and the wait each asks for (no jitter: one loop).

    Args:
        initial: seconds to wait after the first failure.
        cap: the longest wait.
    """

    initial: float
    cap: float
    multiplier: float = 2.0
    failures: int = 0

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.cap < self.initial or self.multiplier < 1:
            raise ValueError(
                "a backoff needs initial above 0, cap at least initial and multiplier at least 1"
            )

    def failed(self) -> float:
        """Count one more failure; the seconds to wait before trying again."""
        self.failures += 1
        return exponential(self.failures, self.initial, self.cap, self.multiplier)

    def succeeded(self) -> None:
        """The loop worked again: the next failure waits ``initial`` again."""
        self.failures = 0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry schedule for failed attempts.

    The n-th retry waits a uniform random time in ``[0, min(cap, initial * multiplier**(n-1))]``
    ("full jitter": many onboardings failing together do not retry together). A ``Retry-After``
    from Sent is honoured as a floor, capped at ``retry_after_cap``.
    """

    initial: float = 1.0
    multiplier: float = 2.0
    cap: float = 100.0
    max_attempts: int = 500
    max_elapsed: float = 3600.0
    retry_after_cap: float = 120.0
    max_unexpected: int = 5

    def ceiling(self, attempt: int) -> float:
        """The longest wait after ``attempt`` failures (>= 1): ``initial``, growing by
        ``multiplier`` per failure, never above ``cap`` (the one schedule, :func:`exponential`)."""
        return exponential(max(1, attempt), self.initial, self.cap, self.multiplier)

    def spread(self, attempt: int, rng: random.Random) -> float:
        """A wait after ``attempt`` failures in ``[ceiling / 2, ceiling]`` ("equal jitter"): it
        never shrinks from one failure to the next below the cap, and processes failing together
        (workers losing their database) do not come back together."""
        ceiling = self.ceiling(attempt)
        return rng.uniform(ceiling / 2, ceiling)

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` failures so far, >= 1)."""
        wait = rng.uniform(0, self.ceiling(attempt))
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, self.retry_after_cap))
        return wait

    def exhausted(self, attempts: int, elapsed: float, *, unexpected: bool = False) -> bool:
        """Whether a step that failed ``attempts`` times over ``elapsed`` seconds should stop."""
        if unexpected:
            return attempts >= self.max_unexpected
        return attempts >= self.max_attempts or elapsed >= self.max_elapsed
