"""The one time-zone helper (``as_utc``) and the one backoff (``exponential``, ``Backoff``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from workflow.core.backoff import Backoff, RetryPolicy, exponential
from workflow.core.clock import as_utc


def test_as_utc_keeps_the_instant_and_takes_naive_times_as_utc() -> None:
    paris = datetime(2026, 5, 1, 11, 0, 0, 654321, tzinfo=timezone(timedelta(hours=2)))
    converted = as_utc(paris)
    assert converted == paris
    assert converted.tzinfo is UTC
    assert converted.hour == 9
    naive = datetime(2026, 5, 1, 9, 0)
    assert as_utc(naive) == datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    assert as_utc(None) is None


def test_exponential_doubles_from_initial_up_to_the_cap() -> None:
    assert [exponential(n, 0.5, 30.0) for n in range(9)] == [
        0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0
    ]  # fmt: skip
    assert exponential(10_000, 1.0, 100.0) == 100.0  # no overflow however many failures


def test_a_backoff_counts_failures_in_a_row_and_starts_again_after_a_success() -> None:
    backoff = Backoff(0.5, 2.0)
    assert [backoff.failed() for _ in range(4)] == [0.5, 1.0, 2.0, 2.0]
    assert backoff.failures == 4
    backoff.succeeded()
    assert (backoff.failures, backoff.failed()) == (0, 0.5)
    with pytest.raises(ValueError, match="cap at least initial"):
        Backoff(1.0, 0.5)


def test_the_retry_policy_draws_under_the_same_schedule() -> None:
    policy = RetryPolicy(initial=1.0, cap=8.0)

    class Highest:
        def uniform(self, low: float, high: float) -> float:
            return high

    waits = [policy.delay(n, Highest()) for n in range(1, 6)]  # type: ignore[arg-type]
    assert waits == [exponential(n, 1.0, 8.0) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 8.0]
