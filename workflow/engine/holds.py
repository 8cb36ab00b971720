"""What a worker keeps aside: onboardings whose last runs ended in an error.

A run ends in an error when not even the failure of its step could be committed (the database
refused both), or on a bug outside the steps. The onboarding is then still due in the database,
so without a memory of its own the worker would claim it again at once, resend its calls and
fail again, as fast as it can. :class:`Holds` remembers each such onboarding for a backoff that
doubles with every failed run in a row (with jitter, up to :data:`HOLD_CAP`), the worker's
claims skip it meanwhile, and a run that ends well forgets it. Thread-safe; in memory only (a
restarted worker starts afresh, and its first run fails again before anything is resent twice).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from workflow.core.backoff import RetryPolicy

__all__ = ["HOLD_CAP", "HOLD_GIVE_UP", "HOLD_INITIAL", "Hold", "Holds"]

#: Seconds an onboarding whose run failed is kept aside, doubled for each failed run in a row.
HOLD_INITIAL: Final = 1.0
HOLD_CAP: Final = 300.0
_BACKOFF: Final = RetryPolicy(initial=HOLD_INITIAL, multiplier=2.0, cap=HOLD_CAP)
#: Failed runs in a row after which ``run(until_idle=True)`` no longer waits for an onboarding.
HOLD_GIVE_UP: Final = 5


@dataclass(frozen=True, slots=True)
class Hold:
    """An onboarding kept aside after ``failures`` failed runs in a row, until ``until``."""

    failures: int
    until: datetime


class Holds:
    """The onboardings one worker keeps aside, by id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holds: dict[str, Hold] = {}
        self._rng = random.Random()

    def note(self, onboarding_id: str, *, failed: bool, now: datetime) -> Hold | None:
        """After a run: keep a failed onboarding aside (returned), forget one that ran well."""
        with self._lock:
            if not failed:
                self._holds.pop(onboarding_id, None)
                return None
            previous = self._holds.get(onboarding_id)
            failures = 1 if previous is None else previous.failures + 1
            wait = _BACKOFF.spread(failures, self._rng)
            hold = Hold(failures, now + timedelta(seconds=wait))
            self._holds[onboarding_id] = hold
            return hold

    def aside(self, now: datetime) -> list[str]:
        """The onboardings not to claim at ``now``; holds long past are forgotten."""
        forget = now - timedelta(seconds=2 * HOLD_CAP)
        with self._lock:
            for onboarding_id in [i for i, h in self._holds.items() if h.until < forget]:
                del self._holds[onboarding_id]
            return [i for i, h in self._holds.items() if h.until > now]

    def next_release(self, now: datetime) -> datetime | None:
        """When the first onboarding kept aside at ``now`` may be claimed again."""
        with self._lock:
            return min((h.until for h in self._holds.values() if h.until > now), default=None)

    def given_up(self) -> list[str]:
        """Onboardings whose last :data:`HOLD_GIVE_UP` runs (or more) in a row failed."""
        with self._lock:
            return [i for i, h in self._holds.items() if h.failures >= HOLD_GIVE_UP]
