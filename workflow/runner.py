"""The worker: APScheduler wakes it, it claims due onboardings and runs their steps.

The database is the only truth. APScheduler (3.x, in-memory job store, never shared) only
fires :meth:`Worker.tick` on an interval; each tick claims due onboardings under a lease and
hands them to a bounded thread pool, so many onboardings are in flight and API latency overlaps.
A worker that dies leaves leases that expire; any worker then takes the onboardings over.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from types import FrameType
from typing import ClassVar

from persistence.store import SqlStore
from workflow.clock import Clock, FakeClock
from workflow.engine import Engine, StepReport
from workflow.errors import OnboardingError

__all__ = ["Worker", "drive_until_idle"]

log = logging.getLogger("workflow.runner")

#: Steps one claim may run back to back before the onboarding goes back in the queue.
MAX_STEPS_PER_CLAIM = 20


def _skip_overlap_notices(record: logging.LogRecord) -> bool:
    return "maximum number of running instances" not in record.getMessage()


def _tick_job(worker_id: str) -> None:
    """The APScheduler job: a top-level function given only a primitive id."""
    worker = Worker.registry.get(worker_id)
    if worker is not None:
        worker.tick()


class Worker:
    """Claims and runs due onboardings with bounded concurrency.

    Args:
        engine: runs one step of one onboarding.
        concurrency: onboardings in flight at once.
        lease_seconds: how long a claim lasts without a heartbeat.
        poll_interval: seconds between ticks.
        on_report: called after every step (progress displays).
    """

    registry: ClassVar[dict[str, Worker]] = {}

    def __init__(
        self,
        engine: Engine,
        *,
        concurrency: int = 8,
        lease_seconds: float = 60.0,
        poll_interval: float = 0.2,
        owner: str | None = None,
        on_report: Callable[[StepReport], None] | None = None,
    ) -> None:
        self.engine = engine
        self.store: SqlStore = engine.store
        self.clock: Clock = engine.clock
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.on_report = on_report
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="onboarding")
        self._in_flight: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._tick_lock = threading.Lock()

    # ----------------------------------------------------------------- ticking
    def tick(self) -> int:
        """Heartbeat held leases, claim due onboardings up to the free slots; returns claimed."""
        if self._stopping.is_set() or not self._tick_lock.acquire(blocking=False):
            return 0
        try:
            now = self.clock.now()
            with self._lock:
                self._in_flight = {k: f for k, f in self._in_flight.items() if not f.done()}
                held = list(self._in_flight)
                free = self.concurrency - len(held)
            self.store.extend_leases(held, self.owner, now + timedelta(seconds=self.lease_seconds))
            claimed = self.store.claim_due(self.owner, now, self.lease_seconds, free)
            for row in claimed:
                future = self._pool.submit(self._run, row.id)
                with self._lock:
                    self._in_flight[row.id] = future
            return len(claimed)
        except OnboardingError as exc:
            log.error("tick failed: %s", exc)
            return 0
        finally:
            self._tick_lock.release()

    def _run(self, onboarding_id: str) -> None:
        try:
            for _ in range(MAX_STEPS_PER_CLAIM):
                if self._stopping.is_set():
                    break
                report = self.engine.run_step(onboarding_id)
                if self.on_report is not None:
                    self.on_report(report)
                if not report.due_now:
                    break
        except OnboardingError as exc:
            log.error("onboarding %s: step failed: %s", onboarding_id, exc)
        except Exception:  # a bug must not kill the worker thread; the lease lets it retry
            log.exception("onboarding %s: unexpected error", onboarding_id)
        finally:
            try:
                self.store.release(onboarding_id, self.owner)
            except OnboardingError as exc:
                log.error("onboarding %s: could not release lease: %s", onboarding_id, exc)

    def in_flight(self) -> int:
        """Onboardings being worked on right now."""
        with self._lock:
            return sum(1 for f in self._in_flight.values() if not f.done())

    def wait_in_flight(self, timeout: float | None = None) -> None:
        """Block until the steps in flight have finished."""
        with self._lock:
            futures = list(self._in_flight.values())
        for future in futures:
            future.result(timeout=timeout)

    def is_idle(self) -> bool:
        """Nothing in flight and nothing left to move (all terminal or paused)."""
        return self.in_flight() == 0 and self.store.count_active() == 0

    # ----------------------------------------------------------------- running
    def run(self, *, until_idle: bool = False, max_seconds: float | None = None) -> bool:
        """Run with APScheduler as the clock until stopped (or idle); returns whether idle.

        SIGINT/SIGTERM stop claiming, let in-flight steps finish and commit, and release leases.
        """
        from apscheduler.schedulers.background import BackgroundScheduler

        Worker.registry[self.owner] = self
        # A tick still running when the next is due is skipped on purpose (max_instances=1).
        logging.getLogger("apscheduler.scheduler").addFilter(_skip_overlap_notices)
        scheduler = BackgroundScheduler(daemon=True)
        scheduler.add_job(
            _tick_job, "interval", args=[self.owner], seconds=self.poll_interval,
            id=f"tick:{self.owner}", replace_existing=True, coalesce=True, max_instances=1,
            misfire_grace_time=30,
        )  # fmt: skip
        previous = self._install_signal_handlers()
        scheduler.start()
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        idle = False
        try:
            while not self._stopping.is_set():
                if until_idle and self.is_idle():
                    idle = True
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self._stopping.wait(min(0.1, self.poll_interval))
        finally:
            self._stopping.set()
            scheduler.shutdown(wait=True)
            self.wait_in_flight()
            self._pool.shutdown(wait=True)
            Worker.registry.pop(self.owner, None)
            self._restore_signal_handlers(previous)
        return idle

    def stop(self) -> None:
        """Ask :meth:`run` to finish gracefully."""
        self._stopping.set()

    def _install_signal_handlers(self) -> dict[int, object]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handle(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: finishing in-flight steps, then stopping", signum)
            self.stop()

        return {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    @staticmethod
    def _restore_signal_handlers(previous: dict[int, object]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def close(self) -> None:
        """Release the thread pool (for workers driven by :func:`drive_until_idle`)."""
        self._stopping.set()
        self._pool.shutdown(wait=True)


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
            if due is not None and due > clock.now():
                clock.advance((due - clock.now()).total_seconds())
            else:
                time.sleep(0.005)  # a background completion at the sandbox, in real time
    raise RuntimeError(f"onboardings did not settle within {max_ticks} ticks")
