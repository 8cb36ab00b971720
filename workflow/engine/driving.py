"""Driving a worker by hand under a fake clock, until its onboardings settle (tests)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from workflow.core.clock import FakeClock

if TYPE_CHECKING:
    from workflow.engine.runner import Worker

__all__ = ["drive_until_idle"]


def drive_until_idle(worker: Worker, clock: FakeClock, *, max_ticks: int = 100_000) -> int:
    """Test helper: tick synchronously, jumping the fake clock to the next due time when nothing
    is due, until every onboarding is terminal or paused. Returns the ticks taken.

    Raises:
        RuntimeError: when the onboardings do not settle within ``max_ticks``.
    """
    for ticks in range(1, max_ticks + 1):
        claimed = worker.tick()
        worker.wait_in_flight()
        if worker.is_idle():
            return ticks
        if claimed == 0:
            due = worker.store.next_due()
            if due is not None and due <= clock.now():
                due = worker.next_release()  # what is due is kept aside after a failed run
            if due is not None and due > clock.now():
                clock.advance((due - clock.now()).total_seconds())
            else:
                time.sleep(0.005)  # a background completion at the sandbox, in real time
    raise RuntimeError(f"onboardings did not settle within {max_ticks} ticks")
