"""Sent's rate limits, paced in the database so that every worker on it shares one pace.

One ``rate_limits`` row per endpoint class holds the next free slot and until when a 429 holds
the class back (seconds since the epoch). Taking a slot reads and moves that row in one
transaction, with the row locked first (an ``UPDATE`` takes the row lock on PostgreSQL and the
write lock on SQLite), so two workers never take the same slot: the fleet calls a class at most
once per ``60 / per_minute`` seconds. A slot not free now is reserved: the onboarding waits for
it (it is not an attempt), and calls then without asking again, unless a 429 came meanwhile.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Engine, text

__all__ = ["SqlRateSlots"]

_ENSURE: Final = text(
    "INSERT INTO rate_limits (endpoint_class, next_free_at, blocked_until, granted, throttled) "
    "VALUES (:c, 0, 0, 0, 0) ON CONFLICT (endpoint_class) DO NOTHING"
)
_LOCK: Final = text("UPDATE rate_limits SET granted = granted WHERE endpoint_class = :c")
_READ: Final = text("SELECT next_free_at, blocked_until FROM rate_limits WHERE endpoint_class = :c")
_MOVE: Final = text(
    "UPDATE rate_limits SET next_free_at = :free, granted = granted + :granted "
    "WHERE endpoint_class = :c"
)
_BLOCK: Final = text(
    "UPDATE rate_limits SET blocked_until = CASE WHEN blocked_until > :until "
    "THEN blocked_until ELSE :until END, throttled = throttled + 1 WHERE endpoint_class = :c"
)


def _seconds(moment: datetime) -> float:
    return moment.timestamp()


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class SqlRateSlots:
    """:class:`~workflow.ports.RateSlots` over the ``rate_limits`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def take_slot(
        self, endpoint_class: str, per_minute: float, now: datetime, held: datetime | None
    ) -> datetime | None:
        """``None``: call now; else the slot reserved for this caller (see the module)."""
        interval = 60.0 / per_minute
        at = _seconds(now)
        with self.engine.begin() as connection:
            connection.execute(_ENSURE, {"c": endpoint_class})
            connection.execute(_LOCK, {"c": endpoint_class})
            row = connection.execute(_READ, {"c": endpoint_class}).one()
            next_free, blocked = float(row[0]), float(row[1])
            if held is not None:
                slot = _seconds(held)
                if slot > at:
                    return held  # woken early: the slot stands
                if blocked <= at:
                    connection.execute(
                        _MOVE, {"c": endpoint_class, "free": next_free, "granted": 1}
                    )
                    return None
            slot = max(at, next_free, blocked)
            granted = 1 if slot <= at else 0
            connection.execute(
                _MOVE, {"c": endpoint_class, "free": slot + interval, "granted": granted}
            )
            return None if granted else _moment(slot)

    def slow_down(self, endpoint_class: str, until: datetime) -> None:
        """Hold the class back until ``until``: later slots start after it."""
        with self.engine.begin() as connection:
            connection.execute(_ENSURE, {"c": endpoint_class})
            connection.execute(_BLOCK, {"c": endpoint_class, "until": _seconds(until)})

    def counters(self) -> dict[str, dict[str, Any]]:
        """Per class: slots granted and 429s answered (for figures)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                text("SELECT endpoint_class, granted, throttled FROM rate_limits")
            ).all()
        return {r[0]: {"granted": int(r[1]), "throttled": int(r[2])} for r in rows}
