"""The worker: APScheduler wakes it, it claims due onboardings and runs their steps.

The database is the only truth. APScheduler (3.x, in-memory job store, never shared) only
fires :meth:`Worker.tick` on an interval; each tick claims due onboardings under a lease (the
claim returns their checkpoints and records, so nothing is read again) and hands them to a
bounded thread pool, so many onboardings are in flight and API latency overlaps. A worker that
dies leaves leases that expire; any worker then takes the onboardings over. A tick also writes
the worker's heartbeat row and a clean exit marks it stopped (:mod:`workflow.engine.health`).

When the database fails (unreachable, read-only, full), the worker backs off exponentially
(:mod:`workflow.engine.health`) and logs one line per backoff; ``run(until_idle=True)`` gives up
after ``db_failure_limit`` seconds of failures instead of looping. A run of one onboarding that
ends in an error (its outcome and even the failure of that commit refused) puts that onboarding
aside in memory for a backoff of its own (:mod:`workflow.engine.holds`), and claims skip it
meanwhile: it is never claimed again at once. After :data:`~workflow.engine.holds.HOLD_GIVE_UP`
such runs in a row ``run(until_idle=True)`` stops waiting for it (it is still tried after each
backoff while the worker runs).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from workflow.core.clock import Clock, SystemClock
from workflow.core.errors import CommitFailedError, OnboardingError, StoreError
from workflow.engine import shutdown
from workflow.engine.driving import drive_until_idle
from workflow.engine.executor import EngineConfig, Executor, StepReport
from workflow.engine.health import HEARTBEAT_SECONDS, DatabaseHealth, Heartbeat
from workflow.engine.holds import HOLD_GIVE_UP, Holds
from workflow.engine.observing import Observer
from workflow.flows import FlowDefinition
from workflow.ports import Claim, SentApi, Vault, WorkerStore
from workflow.steps.base import Need

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

__all__ = ["HEARTBEAT_SECONDS", "Worker", "drive_until_idle"]

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

    ``start()`` runs it in background threads and ``stop()`` drains it (``with Worker(...)``
    does both); ``run()`` blocks until stopped, handling SIGINT/SIGTERM in the main thread. A
    worker still running when the interpreter exits is stopped then
    (:mod:`workflow.engine.shutdown`).

    Args:
        store: the worker port of the store.
        api: Sent.
        vault: opens sealed secrets; makes callback tokens.
        concurrency: onboardings in flight at once (at least 1).
        lease_seconds: how long a claim lasts without a heartbeat.
        poll_interval: seconds between ticks.
        owner: this worker's id (the audit log's actor for engine transitions).
        on_report: called after every step (progress displays).
        db_failure_limit: seconds of continuous database failure after which ``run`` gives up.
        observer: told about every step and every tick (metrics).
        dependencies: what steps take from their context beside Sent and the store's reads
            (by :class:`~workflow.steps.base.Need`); one a step needs, not given: ``ValueError``.
    """

    registry: ClassVar[dict[str, Worker]] = {}

    def __init__(
        self,
        store: WorkerStore,
        api: SentApi,
        vault: Vault,
        *,
        config: EngineConfig | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        flows: Mapping[int, FlowDefinition] | None = None,
        concurrency: int = 8,
        lease_seconds: float = 60.0,
        poll_interval: float = 0.2,
        owner: str | None = None,
        on_report: Callable[[StepReport], None] | None = None,
        db_failure_limit: float = 60.0,
        observer: Observer | None = None,
        dependencies: Mapping[Need[Any], object] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.executor = Executor(
            store, api, vault, clock=self.clock, config=config, flows=flows, rng=rng,
            actor=f"worker:{self.owner}", observer=observer, dependencies=dependencies,
        )  # fmt: skip
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.on_report = on_report
        self.db_failure_limit = db_failure_limit
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="onboarding")
        self._in_flight: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._tick_lock = threading.Lock()
        self._health = DatabaseHealth()
        self._heartbeat = Heartbeat(store, self.owner, concurrency, poll_interval)
        self._next_heartbeat = 0.0
        self._autoclaim = False  # on while run() drives the worker; tests tick by hand
        self._holds = Holds()
        self._state_lock = threading.Lock()
        self._stop_lock = threading.Lock()
        self._scheduler: BaseScheduler | None = None
        self._finished = False
        self._signals = False  # run() handles SIGINT/SIGTERM itself
        # Imported here, in the thread that makes the worker: importing APScheduler registers
        # exit hooks, which a thread starting while the interpreter ends could no longer do.
        from apscheduler.schedulers.background import BackgroundScheduler

        self._scheduler_class = BackgroundScheduler

    # ----------------------------------------------------------------- ticking
    def tick(self) -> int:
        """Heartbeat held leases, claim due onboardings up to the free slots; returns claimed."""
        if self._stopping.is_set() or not self._tick_lock.acquire(blocking=False):
            return 0
        try:
            # Again under the lock: stop() takes it before closing the pool this submits to.
            if self._stopping.is_set() or self._health.waiting():
                return 0
            now = self.clock.now()
            with self._lock:
                self._in_flight = {k: f for k, f in self._in_flight.items() if not f.done()}
                held = list(self._in_flight)
                free = self.concurrency - len(held)
            aside = self._holds.aside(now)
            self.executor.observer.worker_ticked(len(held))
            # Heartbeat a few times per lease, not every tick: a lease outlives several misses.
            if held and time.monotonic() >= self._next_heartbeat:
                until = now + timedelta(seconds=self.lease_seconds)
                self.store.extend_leases(held, self.owner, until)
                self._next_heartbeat = time.monotonic() + self.lease_seconds / 4
            claimed = (
                self.store.claim(self.owner, now, self.lease_seconds, free, skip=aside)
                if free
                else []
            )
            self._heartbeat.beat(now, len(held) + len(claimed))
            self._health.healthy()
            for claim in claimed:
                future = self._pool.submit(self._run, claim)
                with self._lock:
                    self._in_flight[claim.checkpoint.id] = future
            return len(claimed)
        except StoreError as exc:
            self._health.failed(exc)
            return 0
        finally:
            self._tick_lock.release()

    @property
    def failing_for(self) -> float:
        """Seconds the database has been failing without a break (0 when healthy)."""
        return self._health.failing_for

    def _run(self, claim: Claim) -> None:
        onboarding_id = claim.checkpoint.id
        failed = True
        try:
            self.executor.run_claim(
                claim, self.owner, max_steps=MAX_STEPS_PER_CLAIM,
                stopping=self._stopping.is_set, on_report=self.on_report,
            )  # fmt: skip
            failed = False
        except CommitFailedError as exc:
            log.error("%s", exc)
        except OnboardingError as exc:
            log.error("onboarding %s: %s", onboarding_id, exc)
        except Exception:  # a bug must not kill the worker thread
            log.exception("onboarding %s: unexpected error", onboarding_id)
        finally:
            with self._lock:
                self._in_flight.pop(onboarding_id, None)
            hold = self._holds.note(onboarding_id, failed=failed, now=self.clock.now())
            if hold is not None:
                wait = (hold.until - self.clock.now()).total_seconds()
                log.warning(
                    "onboarding %s: run failed (%d in a row); not claimed again for %.1fs%s",
                    onboarding_id, hold.failures, wait,
                    "; 'worker --until-idle' no longer waits for it"
                    if hold.failures == HOLD_GIVE_UP else "",
                )  # fmt: skip
            # A slot is free: claim the next due onboarding now rather than at the next tick,
            # so throughput does not depend on the poll interval (ticks still catch the rest).
            if not self._stopping.is_set() and self._autoclaim:
                self.tick()

    def next_release(self) -> datetime | None:
        """When the first onboarding kept aside after a failed run may be claimed again."""
        return self._holds.next_release(self.clock.now())

    def given_up(self) -> list[str]:
        """Onboardings whose last ``HOLD_GIVE_UP`` runs (or more) in a row failed."""
        return self._holds.given_up()

    def in_flight(self) -> int:
        """Onboardings being worked on right now."""
        with self._lock:
            return sum(1 for f in self._in_flight.values() if not f.done())

    def wait_in_flight(self, timeout: float | None = None) -> bool:
        """Block until the steps in flight have finished; ``False`` if ``timeout`` came first."""
        with self._lock:
            futures = list(self._in_flight.values())
        _done, pending = wait(futures, timeout=timeout)
        return not pending

    def is_idle(self) -> bool:
        """Nothing in flight and nothing left to move (all terminal or paused), not counting
        onboardings whose runs keep failing (:meth:`given_up`)."""
        return self.in_flight() == 0 and self.store.count_active(exclude=self.given_up()) == 0

    # ----------------------------------------------------------------- running
    def start(self) -> Worker:
        """Start claiming in background threads and return at once (again: nothing happens).

        APScheduler's daemon thread ticks; the steps run in the worker's pool. Call
        :meth:`stop` to end it, or use the worker as a context manager; one still running when
        the interpreter ends is stopped then (:mod:`workflow.engine.shutdown`), so a service that
        returns or raises never hangs on it.

        Raises:
            RuntimeError: the worker was stopped before (make a new one).
        """
        with self._state_lock:
            if self._finished:
                raise RuntimeError(f"worker {self.owner} was stopped; make a new Worker")
            if self._scheduler is not None:
                return self
            if self._stopping.is_set():
                return self  # asked to stop before it started (request_stop)
            if not shutdown.track(self):
                log.info("interpreter exiting: worker %s not started", self.owner)
                self._stopping.set()
                return self
            Worker.registry[self.owner] = self
            # A tick still running when the next is due is skipped on purpose (max_instances=1).
            logging.getLogger("apscheduler.scheduler").addFilter(_skip_overlap_notices)
            scheduler = self._scheduler_class(daemon=True)
            scheduler.add_job(
                _tick_job, "interval", args=[self.owner], seconds=self.poll_interval,
                id=f"tick:{self.owner}", replace_existing=True, coalesce=True, max_instances=1,
                misfire_grace_time=30,
            )  # fmt: skip
            self._autoclaim = True
            scheduler.start()
            self._scheduler = scheduler
        return self

    def stop(self, timeout: float | None = None) -> bool:
        """Stop claiming, let the steps in flight finish and commit, mark the worker stopped.

        Idempotent and thread-safe: a second call (from any thread) waits for the first. A
        step checks between steps whether to go on, so a drain lasts at most the step running
        now (a call to Sent is bounded by ``ONBOARDING_SENT_DEADLINE``). While it drains in
        the main thread, SIGINT or SIGTERM end the process at once (``os._exit``, 130/143).

        Args:
            timeout: seconds to wait for the steps in flight (``None``: until they end). A
                step still running then goes on in its thread under its lease, and commits.

        Returns:
            Whether every step in flight had finished.
        """
        self._stopping.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._stop_lock:
            if self._finished:
                return self.in_flight() == 0
            guard = (
                contextlib.nullcontext() if self._signals else shutdown.exit_at_once_on_signals()
            )
            with guard:
                scheduler = self._scheduler
                if scheduler is not None:
                    scheduler.shutdown(wait=False)
                # A tick claiming now submits what it claimed before the pool closes.
                if self._tick_lock.acquire(
                    timeout=-1 if deadline is None else _left(deadline) or 0.0
                ):
                    self._tick_lock.release()
                drained = self.wait_in_flight(_left(deadline))
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._heartbeat.stopped(self.clock.now())
            with self._state_lock:
                self._finished = True
                Worker.registry.pop(self.owner, None)
                shutdown.untrack(self)
        return drained

    def request_stop(self) -> None:
        """Ask the worker to stop and return at once; :meth:`run` then drains and returns."""
        self._stopping.set()

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def run(
        self,
        *,
        until_idle: bool = False,
        max_seconds: float | None = None,
        handle_signals: bool = True,
    ) -> bool:
        """Start, then block until stopped (or idle, or ``max_seconds``); returns whether idle.

        Returns once the steps in flight have finished and committed. With
        ``handle_signals`` in the main thread, the first SIGINT/SIGTERM stops claiming and
        drains the steps in flight; a second ends the process at once (``os._exit``: 130
        for SIGINT, 143 for SIGTERM). Elsewhere signals are left to the caller.

        Raises:
            StoreError: with ``until_idle``, when the database kept failing for
                ``db_failure_limit`` seconds.
        """
        previous = shutdown.install_signal_handlers(self.request_stop) if handle_signals else {}
        self._signals = bool(previous)
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        idle = False
        failure: StoreError | None = None
        try:
            self.start()
            while not self._stopping.is_set():
                if until_idle:
                    try:
                        if self.is_idle():
                            idle = True
                            break
                    except StoreError as exc:
                        self._health.failed(exc)
                    if self.failing_for >= self.db_failure_limit:
                        failure = StoreError(
                            f"the database kept failing for {self.failing_for:.0f}s; "
                            "check it is reachable and writable, then run the worker again"
                        )
                        break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self._stopping.wait(0.1)  # how often "idle?" is asked, not the claim pace
        finally:
            self.stop()
            shutdown.restore_signal_handlers(previous)
            self._signals = False
        if failure is not None:
            raise failure
        return idle

    def close(self) -> None:
        """Release the thread pool (for workers driven by :func:`drive_until_idle`)."""
        self.stop()


def _left(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (never below 0); ``None`` without one."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())
