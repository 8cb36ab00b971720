"""The sandbox's own time: the real (or an injected) clock plus every advance a test asks for."""

from __future__ import annotations

from datetime import datetime, timedelta

from workflow.core.clock import Clock, SystemClock

__all__ = ["OffsetClock"]


class OffsetClock:
    """A clock that follows another and can be moved forward (the sandbox's own time)."""

    def __init__(self, base: Clock | None = None) -> None:
        self._base = base or SystemClock()
        self._offset = 0.0

    def now(self) -> datetime:
        """The base time plus every advance so far."""
        return self._base.now() + timedelta(seconds=self._offset)

    def sleep(self, seconds: float) -> None:
        """Sleep on the base clock."""
        self._base.sleep(seconds)

    def advance(self, seconds: float) -> None:
        """Jump forward (for idempotency expiry)."""
        self._offset += seconds
