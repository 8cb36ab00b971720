"""Prometheus metrics of a worker: an :class:`~workflow.observing.Observer` over
``prometheus-client``, served by ``onboarding worker --metrics-port N``.

Only this module imports ``prometheus_client``, and only the worker command with
``--metrics-port`` imports this module. Every series lives in its own registry (not the
library's global one), so several workers in one process, or tests, never collide.

Series (all prefixed ``onboarding_``):

* ``transitions_total{from_state, to_state}``; ``paused_total{code}`` (the engine's codes and
  Sent's documented ones, the rest ``other``); ``retries_total{step}``
* ``api_attempts_total{step, outcome, status}`` (a documented status, else its class such as
  ``4xx``; ``none``: no HTTP answer) and ``api_attempt_seconds{step}`` (histogram)

Every label takes values from a bounded set (:mod:`workflow.observing`): what Sent sends never
becomes a label as it is.
* ``step_seconds{step, kind}`` (histogram: one step, from claim to commit)
* ``completion_wait_seconds`` (histogram: from ``/complete`` accepted to Sent's outcome)
* ``in_flight``; ``worker_heartbeat_age_seconds`` (since the worker last ticked);
  ``oldest_due_age_seconds`` (how late the most overdue onboarding is, read at scrape time)
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from workflow.clock import Clock, SystemClock
from workflow.errors import OnboardingError
from workflow.observing import pause_code_label, status_label

__all__ = ["MetricsServer", "PrometheusObserver"]

log = logging.getLogger("workflow.metrics")

STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)


class _RateWaiting(Collector):
    """``onboarding_waiting_for_rate_slot{endpoint_class}``, read from the store at scrape."""

    def __init__(self, read: Callable[[], Mapping[str, int]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "onboarding_waiting_for_rate_slot",
            "Onboardings waiting for a slot of a rate-limited endpoint class at Sent.",
            labels=["endpoint_class"],
        )
        try:
            counts = self._read()
        except OnboardingError as exc:
            log.warning("metrics: could not count the onboardings waiting for a slot: %s", exc)
            counts = {}
        for name, count in sorted(counts.items()):
            family.add_metric([name], float(count))
        yield family


class PrometheusObserver:
    """Counts what the engine does into a registry of its own.

    Args:
        next_due: returns when the most overdue runnable onboarding became due (the store's
            ``next_due``), read at each scrape; ``None`` leaves the gauge at 0.
        rate_waiting: how many onboardings wait for a slot of each rate-limited endpoint class
            (the store's ``count_rate_waiting``), read at each scrape.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        next_due: Callable[[], datetime | None] | None = None,
        clock: Clock | None = None,
        rate_waiting: Callable[[], Mapping[str, int]] | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self._clock: Clock = clock or SystemClock()
        self._next_due = next_due
        self._last_tick = time.monotonic()
        self._lock = threading.Lock()
        r = self.registry
        self.transitions = Counter(
            "onboarding_transitions", "Committed transitions.", ["from_state", "to_state"],
            registry=r,
        )  # fmt: skip
        self.attempts = Counter(
            "onboarding_api_attempts", "API calls made by steps.", ["step", "outcome", "status"],
            registry=r,
        )  # fmt: skip
        self.attempt_seconds = Histogram(
            "onboarding_api_attempt_seconds", "API call latency.", ["step"],
            buckets=STEP_BUCKETS, registry=r,
        )  # fmt: skip
        self.retries = Counter(
            "onboarding_retries", "Transient step failures retried later.", ["step"], registry=r
        )
        self.pauses = Counter(
            "onboarding_paused", "Onboardings paused, by code.", ["code"], registry=r
        )
        self.step_seconds = Histogram(
            "onboarding_step_seconds", "One step, from run to commit.", ["step", "kind"],
            buckets=STEP_BUCKETS, registry=r,
        )  # fmt: skip
        self.completion_wait = Histogram(
            "onboarding_completion_wait_seconds", "From /complete accepted to Sent's outcome.",
            buckets=WAIT_BUCKETS, registry=r,
        )  # fmt: skip
        self.in_flight = Gauge("onboarding_in_flight", "Onboardings being run now.", registry=r)
        heartbeat = Gauge(
            "onboarding_worker_heartbeat_age_seconds", "Seconds since the worker last ticked.",
            registry=r,
        )  # fmt: skip
        heartbeat.set_function(lambda: time.monotonic() - self._last_tick)
        oldest = Gauge(
            "onboarding_oldest_due_age_seconds",
            "How long the most overdue runnable onboarding has been due (0: none overdue).",
            registry=r,
        )
        oldest.set_function(self._oldest_due_age)
        if rate_waiting is not None:
            r.register(_RateWaiting(rate_waiting))

    def _oldest_due_age(self) -> float:
        if self._next_due is None:
            return 0.0
        try:
            due = self._next_due()
        except OnboardingError as exc:  # a scrape must answer even when the database does not
            log.warning("metrics: could not read the oldest due onboarding: %s", exc)
            return math.nan
        if due is None:
            return 0.0
        return max(0.0, (self._clock.now() - due).total_seconds())

    # ------------------------------------------------------------ Observer
    def transition(self, from_state: str | None, to_state: str, trigger: str) -> None:
        """Count a transition."""
        self.transitions.labels(from_state or "none", to_state).inc()

    def attempt(self, step: str, outcome: str, status: int | None, seconds: float) -> None:
        """Count an API call and its latency."""
        self.attempts.labels(step, outcome, status_label(status)).inc()
        self.attempt_seconds.labels(step).observe(seconds)

    def retry(self, step: str) -> None:
        """Count a retry."""
        self.retries.labels(step).inc()

    def paused(self, code: str) -> None:
        """Count a pause."""
        self.pauses.labels(pause_code_label(code)).inc()

    def step_finished(self, step: str, kind: str, seconds: float) -> None:
        """Observe a step's duration."""
        self.step_seconds.labels(step, kind).observe(seconds)

    def completion_waited(self, seconds: float) -> None:
        """Observe a completion wait."""
        self.completion_wait.observe(seconds)

    def worker_ticked(self, in_flight: int) -> None:
        """Note the worker's heartbeat and load."""
        self._last_tick = time.monotonic()
        self.in_flight.set(in_flight)


class MetricsServer:
    """``/metrics`` over HTTP for one registry, in a daemon thread (prometheus-client's own
    server); a context manager.

    Raises:
        OSError: the port cannot be bound (taken, or not allowed).
    """

    def __init__(self, registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        server: Any
        server, self._thread = start_http_server(port, addr=host, registry=registry)
        self._server = server
        self.port: int = server.server_port

    @property
    def url(self) -> str:
        """The metrics URL."""
        return f"http://{self.host}:{self.port}/metrics"

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
