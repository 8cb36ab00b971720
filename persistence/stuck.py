"""Which onboardings need a person, and why: the ``stuck`` reads of :class:`SqlReader`.

No workflow state is named. Why an onboarding needs a person is read from the columns the
engine keeps for every flow:

* paused: unfinished and nothing scheduled (``next_attempt_at IS NULL``); the pause's code is
  ``last_error.code``;
* lease expired: a ``lease_owner`` whose ``lease_expires_at`` has passed;
* overdue: runnable, not leased, and due before a threshold;
* rate_limited: waiting for a slot of a rate-limited endpoint class at Sent (``rate_class``,
  shown as the code);
* retrying: runnable after failed attempts (``attempts > 0``);
* waiting: waiting for a completion callback (``wake_on_callback``) since before a threshold,
  counted from the transition into its state.

Each onboarding has one cause, the first that applies in that order. States (``--state``) are
passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from persistence.counts import code_expression
from persistence.dbapi import Database

__all__ = ["CAUSES", "StuckQuery", "StuckReads", "in_list"]

#: The causes, in the order they are tried and shown.
CAUSES: Final = ("paused", "lease_expired", "overdue", "rate_limited", "retrying", "waiting")
_CAUSE_ORDER: Final = (
    "CASE {0}.cause " + " ".join(f"WHEN '{c}' THEN {i}" for i, c in enumerate(CAUSES)) + " END"
)

#: Runnable, not leased and due before the threshold; and its complement among unfinished rows
#: (written out: ``NOT`` of a comparison with ``NULL`` would drop the paused rows).
_OVERDUE: Final = "o.lease_owner IS NULL AND o.next_attempt_at < :overdue_before"
_NOT_OVERDUE: Final = (
    "(o.lease_owner IS NOT NULL OR o.next_attempt_at IS NULL "
    "OR o.next_attempt_at >= :overdue_before)"
)


@dataclass(frozen=True)
class StuckQuery:
    """What counts as stuck at ``now``: due before ``overdue_before``, waiting for a callback
    since before ``waiting_before``; only ``states`` and only ``codes`` (paused or retrying
    with one of those codes) when given."""

    now: datetime
    overdue_before: datetime
    waiting_before: datetime
    states: Sequence[str] = ()
    codes: Sequence[str] = ()


def in_list(column: str, prefix: str, values: Iterable[str]) -> tuple[str, dict[str, Any]]:
    params = {f"{prefix}{index}": value for index, value in enumerate(values)}
    return f"{column} IN ({', '.join(':' + name for name in params)})", params


class StuckReads:
    """The stuck reads of :class:`~persistence.reader.SqlReader`."""

    db: Database

    @property
    def _unfinished_rows(self) -> str:
        # Without statistics SQLite may take the plain next_attempt_at index for "IS NULL",
        # which also holds every finished row; PostgreSQL's planner has statistics.
        if self.db.postgres:
            return "onboardings o"
        return "onboardings o INDEXED BY ix_onboardings_unfinished"

    def _unfinished(self, query: StuckQuery) -> tuple[str, dict[str, Any]]:
        where = "o.finished_at IS NULL"
        params: dict[str, Any] = {
            "now": self.db.when(query.now),
            "overdue_before": self.db.when(query.overdue_before),
            "waiting_before": self.db.when(query.waiting_before),
        }
        if query.states:
            clause, found = in_list("o.state", "s", query.states)
            where += " AND " + clause
            params.update(found)
        return where, params

    def stuck_sql(
        self,
        query: StuckQuery,
        *,
        overdue: bool | None = None,
        runnable: bool = False,
        extra: str = "",
        rows: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """``(id, cause, code, since)`` of every stuck onboarding (``overdue``: only the overdue
        ones, or all but them; ``runnable``: not the paused ones).

        The cause is read from the covering partial index ``ix_onboardings_unfinished`` alone;
        the table is read only for the code of paused and retrying rows, and the audit log only
        for the entry time of those waiting for a callback.
        """
        entered = (
            "(SELECT t.at FROM transitions t WHERE t.onboarding_id = {0}.id "
            "AND t.seq = {0}.audit_seq)"
        )
        where, params = self._unfinished(query)
        if overdue is not None:
            where += " AND " + (_OVERDUE if overdue else _NOT_OVERDUE)
        if runnable:
            where += " AND o.next_attempt_at IS NOT NULL"
        if extra:
            where += f" AND {extra}"
        code = self.db.json_field("x.last_error", "code")
        # SQLite finds a row by its rowid (kept in every index entry) faster than by its id.
        row = "id" if self.db.postgres else "rowid"
        sql = f"""
            SELECT c.id, c.cause,
                   CASE WHEN c.cause IN ('paused', 'retrying')
                     THEN (SELECT {code} FROM onboardings x WHERE x.{row} = c.row_key)
                     WHEN c.cause = 'rate_limited' THEN c.rate_class END AS code,
                   CASE c.cause
                     WHEN 'paused' THEN c.updated_at
                     WHEN 'lease_expired' THEN c.lease_expires_at
                     WHEN 'overdue' THEN c.next_attempt_at
                     WHEN 'retrying' THEN COALESCE(c.step_started_at, c.updated_at)
                     WHEN 'rate_limited' THEN c.updated_at
                     ELSE {entered.format("c")}
                   END AS since
            FROM (
              SELECT o.id, o.{row} AS row_key, o.next_attempt_at, o.lease_expires_at,
                     o.updated_at, o.step_started_at, o.audit_seq, o.rate_class,
                     CASE
                       WHEN o.next_attempt_at IS NULL THEN 'paused'
                       WHEN o.lease_owner IS NOT NULL AND o.lease_expires_at < :now
                         THEN 'lease_expired'
                       WHEN {_OVERDUE} THEN 'overdue'
                       WHEN o.rate_class IS NOT NULL THEN 'rate_limited'
                       WHEN o.attempts > 0 THEN 'retrying'
                       WHEN o.wake_on_callback AND {entered.format("o")} < :waiting_before
                         THEN 'waiting'
                     END AS cause
              FROM {rows or self._unfinished_rows} WHERE {where}
            ) c WHERE c.cause IS NOT NULL"""
        return sql, params

    def stuck(self, query: StuckQuery, *, per_group: int | None = None) -> Iterator[dict[str, Any]]:
        """Stuck onboardings by cause and code, oldest first in each; at most ``per_group``
        of each (cause, code) when given. Streamed; the table is read only for the rows shown.

        With ``per_group`` the overdue rows (the cause a backlog swells) are taken in the
        index's order and only the others are ranked, so the cost does not grow with a backlog.
        """
        sql, params = self.stuck_sql(query)
        if per_group is not None:
            rest, params = self.stuck_sql(query, overdue=False)
            late, _ = self.stuck_sql(query, overdue=True)
            sql = f"""
                SELECT p.id, p.cause, p.code, p.since FROM (
                  SELECT s.*, ROW_NUMBER() OVER (
                    PARTITION BY s.cause, s.code ORDER BY s.since, s.id) AS place
                  FROM ({rest}) s) p
                WHERE p.place <= :per_group
                UNION ALL
                SELECT * FROM ({late} ORDER BY since, id LIMIT :per_group) d"""
            params["per_group"] = per_group
        sql = f"""
            SELECT o.id, o.key, o.state, o.paused_from, o.profile_id, o.attempts,
                   o.next_attempt_at, o.last_error, o.lease_owner, o.lease_expires_at,
                   r.cause, r.code, r.since
            FROM ({sql}) r JOIN onboardings o ON o.id = r.id{self._code_filter(query, params)}
            ORDER BY {_CAUSE_ORDER.format("r")}, r.code, r.since, r.id"""
        return self.db.rows("find stuck onboardings", sql, params, stream=per_group is None)

    @staticmethod
    def _code_filter(query: StuckQuery, params: dict[str, Any]) -> str:
        if not query.codes:
            return ""
        clause, found = in_list("r.code", "c", query.codes)
        params.update(found)
        return f" WHERE {clause}"

    def stuck_summary(self, query: StuckQuery) -> list[dict[str, Any]]:
        """How many onboardings are stuck per (cause, code), and since when the oldest.

        No count grows with the number of onboardings: the paused ones are read from
        ``stuck_counts`` (kept by triggers, migration 0009) with the oldest of each group one
        probe of ``ix_onboardings_paused_code``; the overdue ones are the runnable count less
        those not overdue (due later, or leased), and only those few are classified.
        """
        counts = self._counts(query)
        groups = self._paused_groups(query, [c for c in counts if c["kind"] == "paused"])
        runnable = sum(c["count"] for c in counts if c["kind"] == "runnable")
        groups += self._runnable_groups(query, runnable)
        merged: dict[tuple[str, str | None], dict[str, Any]] = {}
        for group in groups:
            found = merged.setdefault((group["cause"], group["code"]), dict(group, count=0))
            found["count"] += group["count"]
            found["oldest"] = min(found["oldest"], group["oldest"])
        chosen = list(merged.values())
        if query.codes:
            chosen = [g for g in chosen if g["code"] in query.codes]
        return sorted(chosen, key=lambda g: (CAUSES.index(g["cause"]), g["code"] or ""))

    def _runnable_groups(self, query: StuckQuery, runnable: int) -> list[dict[str, Any]]:
        """The groups of the ``runnable`` onboardings (as counted): expired leases, overdue
        (the runnable count less those due later or leased), and the few others classified."""
        groups = self._classified_groups(query)
        where, params = self._unfinished(query)
        leased = self._leased_rows
        later = self.db.first(
            "count onboardings due later",
            f"SELECT count(*) AS count FROM onboardings o WHERE {where} "
            "AND o.next_attempt_at >= :overdue_before",
            params,
        )
        held = self.db.first(
            "count leased onboardings",
            f"SELECT count(*) AS count FROM {leased} WHERE {where} "
            "AND o.lease_owner IS NOT NULL AND o.next_attempt_at < :overdue_before",
            params,
        )
        late = runnable - int((later or {}).get("count") or 0) - int((held or {}).get("count") or 0)
        expired = self.db.first(
            "count expired leases",
            f"SELECT count(*) AS count, min(o.lease_expires_at) AS oldest FROM {leased} "
            f"WHERE {where} AND o.lease_owner IS NOT NULL AND o.lease_expires_at < :now "
            "AND o.next_attempt_at IS NOT NULL",
            params,
        )
        if expired and expired["count"]:
            groups.append({"cause": "lease_expired", "code": None, **expired})
        if late > 0:
            oldest = self.db.first(
                "find the oldest overdue onboarding",
                f"SELECT o.next_attempt_at AS oldest FROM {self._unfinished_rows} WHERE {where} "
                f"AND {_OVERDUE} ORDER BY o.next_attempt_at LIMIT 1",
                params,
            )
            if oldest is not None:
                groups.append({"cause": "overdue", "code": None, "count": late, **oldest})
        return groups

    @property
    def _leased_rows(self) -> str:
        if self.db.postgres:
            return "onboardings o"
        return "onboardings o INDEXED BY ix_onboardings_leased"

    def _classified_groups(self, query: StuckQuery) -> list[dict[str, Any]]:
        """The groups of the few runnable onboardings not counted as overdue: due later (and
        not under an expired lease), or leased now; each classified."""
        groups: list[dict[str, Any]] = []
        leased = self._leased_rows
        for extra, rows in (
            (
                "o.next_attempt_at >= :overdue_before "
                "AND (o.lease_owner IS NULL OR o.lease_expires_at >= :now)",
                None,
            ),
            (
                "o.lease_owner IS NOT NULL AND o.lease_expires_at >= :now "
                "AND o.next_attempt_at < :overdue_before",
                leased,
            ),
        ):
            rest, params = self.stuck_sql(query, runnable=True, extra=extra, rows=rows)
            groups += self.db.all(
                "count stuck onboardings",
                f"SELECT s.cause, s.code, count(*) AS count, min(s.since) AS oldest "
                f"FROM ({rest}) s GROUP BY s.cause, s.code",
                params,
            )
        return groups

    def _counts(self, query: StuckQuery) -> list[dict[str, Any]]:
        """The rows of ``stuck_counts`` for the states asked for (all of them by default)."""
        sql = "SELECT state, code, kind, count FROM stuck_counts WHERE count > 0"
        params: dict[str, Any] = {}
        if query.states:
            clause, params = in_list("state", "s", query.states)
            sql += " AND " + clause
        return self.db.all("read the counts", sql, params)

    def _paused_groups(
        self, query: StuckQuery, counts: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """One group per pause code (over the states counted), with its oldest: one index
        probe per (state, code)."""
        if not counts:
            return []
        code = code_expression(self.db.postgres, "o")
        probes: list[str] = []
        params: dict[str, Any] = {}
        for index, row in enumerate(counts):
            params[f"ps{index}"] = row["state"]
            if row["code"]:
                params[f"pc{index}"] = row["code"]
                matches = f"({code}) = :pc{index}"
            else:
                matches = f"({code}) IS NULL"
            probes.append(
                f"SELECT min(o.updated_at) AS oldest FROM onboardings o "
                f"WHERE o.finished_at IS NULL AND o.next_attempt_at IS NULL "
                f"AND {matches} AND o.state = :ps{index}"
            )
        oldest = self.db.all(
            "find the oldest paused onboardings",
            " UNION ALL ".join(f"SELECT * FROM ({p}) p{i}" for i, p in enumerate(probes)),
            params,
        )
        groups = []
        for row, first in zip(counts, oldest, strict=True):
            if first["oldest"] is None:  # counted, yet gone: a count is never negative here
                continue
            groups.append(
                {
                    "cause": "paused",
                    "code": row["code"] or None,
                    "count": row["count"],
                    "oldest": first["oldest"],
                }
            )
        return groups
