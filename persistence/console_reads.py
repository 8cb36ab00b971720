"""The console's reads beside :class:`~persistence.reader.SqlReader`'s: search, counts for the
overview, a batch's progress and an onboarding's position in its log, through the DB-API driver.

Each is an index range or an index-only count (migration 0011 adds the indexes search and the
outcome counts walk). No workflow state is named: states come back as stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from persistence.reader import ONBOARDING, SqlReader

__all__ = ["ConsoleReads"]


class ConsoleReads(SqlReader):
    """:class:`SqlReader` plus what the console's overview, search and live pages read."""

    def search(self, text: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """Onboardings whose key, id or profile id is ``text``, or one of whose API attempts
        carried ``text`` as its Idempotency-Key or got it as Sent's request id; each row names
        what matched under ``matched``."""
        found: dict[str, dict[str, Any]] = {}
        direct = (("key", "key"), ("id", "onboarding id"), ("profile_id", "profile id"))
        for column, matched in direct:
            for row in self.db.all(
                "search onboardings",
                f"SELECT {ONBOARDING} FROM onboardings WHERE {column} = :value LIMIT :limit",
                {"value": text, "limit": limit},
            ):
                found.setdefault(row["id"], {**row, "matched": matched})
        through = (("idempotency_key", "Idempotency-Key"), ("request_id", "Sent request id"))
        for column, matched in through:
            for row in self.db.all(
                "search attempts",
                f"SELECT {ONBOARDING} FROM onboardings WHERE id IN ("
                f"SELECT onboarding_id FROM step_attempts WHERE {column} = :value) LIMIT :limit",
                {"value": text, "limit": limit},
            ):
                found.setdefault(row["id"], {**row, "matched": matched})
        return list(found.values())[:limit]

    def state_counts(self) -> dict[str, int]:
        """How many onboardings are in each state (an index-only count)."""
        rows = self.db.all(
            "count onboardings by state",
            "SELECT state, count(*) AS count FROM onboardings GROUP BY state",
        )
        return {str(r["state"]): int(r["count"]) for r in rows}

    def oldest_due(self) -> dict[str, Any] | None:
        """The runnable onboarding due the longest, not leased (``None`` when there is none)."""
        return self.db.first(
            "find the oldest due onboarding",
            "SELECT id, key, state, next_attempt_at FROM onboardings "
            "WHERE next_attempt_at IS NOT NULL AND lease_owner IS NULL "
            "ORDER BY next_attempt_at LIMIT 1",
        )

    def transitions_since(self, since: datetime) -> dict[str, int]:
        """How many transitions went into each state since ``since``."""
        rows = self.db.all(
            "count recent transitions",
            "SELECT to_state, count(*) AS count FROM transitions WHERE at >= :since "
            "GROUP BY to_state",
            {"since": self.db.when(since)},
        )
        return {str(r["to_state"]): int(r["count"]) for r in rows}

    def outcomes(self) -> list[dict[str, Any]]:
        """How many onboardings ended with each (predicted, actual) outcome."""
        return self.db.all(
            "count outcomes",
            "SELECT predicted_outcome, actual_outcome, count(*) AS count FROM onboardings "
            "WHERE actual_outcome IS NOT NULL GROUP BY predicted_outcome, actual_outcome "
            "ORDER BY predicted_outcome, actual_outcome",
        )

    def batch_count(self, batch_id: str) -> int:
        """How many audit rows carry ``batch_id`` (a running batch's progress)."""
        row = self.db.first(
            "count a batch's rows",
            "SELECT count(*) AS count FROM transitions WHERE batch_id = :batch",
            {"batch": batch_id},
        )
        return int(row["count"]) if row else 0

    def position(self, onboarding_id: str) -> int | None:
        """An onboarding's newest audit sequence number, ``None`` if it does not exist."""
        row = self.db.first(
            "read an onboarding's position",
            "SELECT audit_seq, version FROM onboardings WHERE id = :id",
            {"id": onboarding_id},
        )
        return None if row is None else int(row["version"])
