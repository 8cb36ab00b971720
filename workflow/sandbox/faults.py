"""Fault injection for the sandbox: what goes wrong, how often, decided by a seeded random."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["FaultConfig", "FaultDecision", "FaultInjector", "ScriptedFault"]


#: A probability per request.
Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class ScriptedFault(BaseModel):
    """Fail the first ``times`` requests that match, with ``status`` (deterministic faults);
    ``code`` and ``message``, when given, replace the error body's usual ones."""

    model_config = ConfigDict(extra="forbid")

    method: str | None = None
    path_contains: str | None = None
    body_contains: str | None = None
    status: int = 503
    times: int = 1
    after_execution: bool = False  # run the mutation, then lose the response
    code: str | None = None
    message: str | None = None


class FaultConfig(BaseModel):
    """What the sandbox gets wrong on purpose. Every rate is a probability per request.

    Attributes:
        error_rates: HTTP status -> probability of answering it instead of doing the work
            (500, 502, 503, 429 ...). A 429 carries ``Retry-After: retry_after``.
        lost_response_rate: probability that a mutation is executed (and cached under its
            Idempotency-Key) but the client gets a 502: the "reply lost" crash case.
        latency_ms: added to every request.
        hang_rate: probability a request sleeps ``hang_seconds`` (client timeouts).
        callback_drop_rate / callback_duplicate_rate: completion callbacks lost or sent twice.
        rate_limit_per_second: requests per second per API key before 429 (0 = no limit).
        scripted: deterministic faults for the first N matching requests.
        seed: the random seed, so a run can be repeated.
    """

    model_config = ConfigDict(extra="forbid")

    error_rates: dict[int, Probability] = Field(default_factory=dict)
    retry_after: float = Field(default=1.0, ge=0)
    lost_response_rate: Probability = 0.0
    latency_ms: float = Field(default=0.0, ge=0)
    hang_rate: Probability = 0.0
    hang_seconds: float = Field(default=30.0, ge=0)
    callback_drop_rate: Probability = 0.0
    callback_duplicate_rate: Probability = 0.0
    rate_limit_per_second: float = Field(default=0.0, ge=0)
    scripted: list[ScriptedFault] = Field(default_factory=list)
    seed: int | None = None

    @field_validator("error_rates")
    @classmethod
    def _error_statuses(cls, rates: dict[int, float]) -> dict[int, float]:
        wrong = sorted(status for status in rates if not 400 <= status <= 599)
        if wrong:
            raise ValueError(f"{wrong[0]} is not an error status: use 400-599 (e.g. 503=0.1)")
        if sum(rates.values()) > 1:
            raise ValueError("the error rates add up to more than 1")
        return rates


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do to one request."""

    status: int | None = None  # answer this error instead of doing the work
    lose_response: int | None = None  # do the work, then answer this error
    delay: float = 0.0
    retry_after: float | None = None
    scripted: ScriptedFault | None = None  # the scripted fault that decided it


class FaultInjector:
    """Draws fault decisions from a :class:`FaultConfig`; thread-safe, reconfigurable live."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self.configure(config or FaultConfig())

    @property
    def config(self) -> FaultConfig:
        """The configuration in force."""
        return self._config

    def configure(self, config: FaultConfig) -> None:
        """Replace the configuration (scripted counters start again)."""
        with self._lock:
            self._config = config
            self._random = random.Random(config.seed)
            self._remaining = [fault.times for fault in config.scripted]

    def chance(self, rate: float) -> bool:
        """True with probability ``rate``."""
        with self._lock:
            return rate > 0 and self._random.random() < rate

    def _rate_limited(self, api_key: str) -> bool:
        limit = self._config.rate_limit_per_second
        if limit <= 0:
            return False
        now = time.monotonic()
        tokens, last = self._buckets.get(api_key, (limit, now))
        tokens = min(limit, tokens + (now - last) * limit)
        if tokens < 1:
            self._buckets[api_key] = (tokens, now)
            return True
        self._buckets[api_key] = (tokens - 1, now)
        return False

    def decide(
        self, *, method: str, path: str, body: bytes, api_key: str, mutation: bool
    ) -> FaultDecision:
        """The fault (if any) for one request. Inspection paths never get here."""
        config = self._config
        delay = config.latency_ms / 1000
        with self._lock:
            for index, fault in enumerate(config.scripted):
                if self._remaining[index] <= 0:
                    continue
                if fault.method and fault.method.upper() != method.upper():
                    continue
                if fault.path_contains and fault.path_contains not in path:
                    continue
                if fault.body_contains and fault.body_contains.encode() not in body:
                    continue
                self._remaining[index] -= 1
                if fault.after_execution and mutation:
                    return FaultDecision(lose_response=fault.status, delay=delay, scripted=fault)
                return FaultDecision(
                    status=fault.status,
                    delay=delay,
                    retry_after=config.retry_after if fault.status == 429 else None,
                    scripted=fault,
                )
            if self._rate_limited(api_key):
                return FaultDecision(status=429, delay=delay, retry_after=config.retry_after)
            if config.hang_rate and self._random.random() < config.hang_rate:
                delay += config.hang_seconds
            roll, cumulative = self._random.random(), 0.0
            for status, rate in sorted(config.error_rates.items()):
                cumulative += rate
                if roll < cumulative:  # one draw: the rates add up, as configured
                    return FaultDecision(
                        status=status,
                        delay=delay,
                        retry_after=config.retry_after if status == 429 else None,
                    )
            if (
                mutation
                and config.lost_response_rate
                and self._random.random() < config.lost_response_rate
            ):
                return FaultDecision(lose_response=502, delay=delay)
        return FaultDecision(delay=delay)
