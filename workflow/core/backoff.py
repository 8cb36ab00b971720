"""When to try a failed step again: exponential backoff with full jitter, bounded by time.

Transient failures (connection errors, timeouts, 408, 409, 429, 5xx) are retried until
``max_elapsed`` has passed since the first failure of the step: the default rides out an hour of
Sent being down, and no single wait exceeds ``cap`` (Temporal's default retry policy also
retries with a 100 s cap until told otherwise). ``max_attempts`` is a generous backstop, not
the budget. Failures that are not Sent being unavailable (a reply of the wrong shape, a bug in
a step) get a short budget of their own, ``max_unexpected``: retrying them for an hour would
only hide them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


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
        ``multiplier`` per failure, never above ``cap``."""
        return min(self.cap, self.initial * self.multiplier ** min(max(0, attempt - 1), 64))

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
