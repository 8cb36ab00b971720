"""A worker's upkeep beside its steps: how its database is doing, and its row in ``workers``.

:class:`DatabaseHealth` backs off while the database fails (unreachable, read-only, full): one
log line per backoff, waits growing on the one schedule of :mod:`workflow.core.backoff` (with
equal jitter, so workers that lost the database together do not come back together), and
``failing_for`` tells :meth:`~workflow.engine.runner.Worker.run` when to give up.
:class:`Heartbeat` writes the worker's row (its heartbeat) at most every
:data:`HEARTBEAT_SECONDS`, and marks it stopped on a clean exit.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
from datetime import datetime
from typing import Final

from workflow.core.backoff import RetryPolicy
from workflow.core.errors import StoreError
from workflow.ports import WorkerPresence, WorkerStore

__all__ = ["DB_BACKOFF", "HEARTBEAT_SECONDS", "DatabaseHealth", "Heartbeat"]

log = logging.getLogger("workflow.runner")

#: Seconds between a worker's heartbeats in the ``workers`` table (written from its tick).
HEARTBEAT_SECONDS: Final = 5.0
#: Waits after the database failed: from half a second, doubling, at most 30 s.
DB_BACKOFF: Final = RetryPolicy(initial=0.5, multiplier=2.0, cap=30.0)


class DatabaseHealth:
    """Whether the database answers, and when to try it again after it failed.

    Not thread-safe on its own: the worker calls it from its tick (under the tick's lock) and
    from the loop of ``run``.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._failing_since: float | None = None
        self._failures = 0
        self._retry_at = 0.0

    def waiting(self) -> bool:
        """Whether the backoff after a failure is still running (nothing is tried meanwhile)."""
        return time.monotonic() < self._retry_at

    def healthy(self) -> None:
        """The database answered: forget the failures (one line when it had been failing)."""
        if self._failing_since is not None:
            log.warning("database reachable again after %d failed attempts", self._failures)
        self._failing_since, self._failures, self._retry_at = None, 0, 0.0

    def failed(self, exc: StoreError) -> None:
        """The database failed: wait before trying again, longer after each failure in a row."""
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        self._failures += 1
        wait = DB_BACKOFF.spread(self._failures, self._rng)
        self._retry_at = now + wait
        log.error("database unavailable (%s); retrying in %.1fs", exc, wait)

    @property
    def failing_for(self) -> float:
        """Seconds the database has been failing without a break (0 when healthy)."""
        return 0.0 if self._failing_since is None else time.monotonic() - self._failing_since


class Heartbeat:
    """A worker's row in ``workers``: who it is, how busy, when it was last seen."""

    def __init__(
        self, store: WorkerStore, owner: str, concurrency: int, poll_interval: float
    ) -> None:
        self.store = store
        self.owner = owner
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.presence: WorkerPresence | None = None

    def beat(self, now: datetime, in_flight: int, *, stopped: bool = False) -> None:
        """Write the worker's row: at most every :data:`HEARTBEAT_SECONDS`, unless stopping."""
        last = self.presence
        if last is not None and not stopped:
            elapsed = (now - last.last_seen).total_seconds()
            if 0 <= elapsed < HEARTBEAT_SECONDS:
                return
        presence = WorkerPresence(
            id=self.owner, host=socket.gethostname(), pid=os.getpid(),
            version=last.version if last is not None else _package_version(),
            started_at=last.started_at if last is not None else now, last_seen=now,
            concurrency=self.concurrency, in_flight=in_flight,
            # A tick slower than the heartbeat spaces the heartbeats out: say so, so readers
            # do not take a slow-ticking worker for a dead one.
            heartbeat_seconds=max(HEARTBEAT_SECONDS, self.poll_interval),
            stopped_at=now if stopped else None,
        )  # fmt: skip
        self.store.record_worker(presence)
        self.presence = presence

    def stopped(self, now: datetime) -> None:
        """Mark the worker stopped (a clean exit; a failure only logs)."""
        if self.presence is None or self.presence.stopped_at is not None:
            return
        try:
            self.beat(now, 0, stopped=True)
        except StoreError as exc:
            log.warning("could not mark worker %s stopped: %s", self.owner, exc)


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sent-onboarding")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"
