"""When to try a failed step again: exponential backoff with full jitter, capped and bounded."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry schedule for transient failures.

    The n-th retry waits a uniform random time in ``[0, min(cap, initial * multiplier**(n-1))]``
    ("full jitter": many onboardings failing together do not retry together). A ``Retry-After``
    from Sent is honoured as a floor, capped at ``retry_after_cap``. A step gives up (and the
    onboarding pauses) after ``max_attempts`` attempts or ``max_elapsed`` seconds.
    """

    initial: float = 0.5
    multiplier: float = 2.0
    cap: float = 30.0
    max_attempts: int = 8
    max_elapsed: float = 900.0
    retry_after_cap: float = 120.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` failures so far, >= 1)."""
        ceiling = min(self.cap, self.initial * self.multiplier ** max(0, attempt - 1))
        wait = rng.uniform(0, ceiling)
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, self.retry_after_cap))
        return wait

    def exhausted(self, attempts: int, elapsed: float) -> bool:
        """Whether a step that failed ``attempts`` times over ``elapsed`` seconds should stop."""
        return attempts >= self.max_attempts or elapsed >= self.max_elapsed
