"""Operator and auditor reads, straight through the DB-API driver (:mod:`persistence.dbapi`).

Every query here is an index range however many finished onboardings are stored (migration
0004): a page of the list walks ``(created_at, id)``; ``stuck`` reads only unfinished rows (the
partial index ``ix_onboardings_unfinished``); exports stream in the order rows were recorded.

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
from workflow.errors import OnboardingNotFoundError

__all__ = [
    "CAUSES",
    "DEAD_AFTER_HEARTBEATS",
    "ExportFilter",
    "ListFilter",
    "SqlReader",
    "StuckQuery",
    "worker_status",
]

#: The causes, in the order they are tried and shown.
CAUSES: Final = ("paused", "lease_expired", "overdue", "rate_limited", "retrying", "waiting")
#: A worker that has not stopped but missed this many heartbeats is dead (killed, host lost).
DEAD_AFTER_HEARTBEATS: Final = 3

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

ONBOARDING: Final = (
    "id, key, fingerprint, state, paused_from, profile_id, generation, flow_version, attempts, "
    "next_attempt_at, step_started_at, lease_owner, lease_expires_at, version, last_error, "
    "predicted_outcome, predicted_rule, actual_outcome, completion_deadline, has_secrets, "
    "wake_on_callback, audit_seq, audit_head, created_by, created_at, updated_at, finished_at, "
    "sent_api, rate_class, rate_slot_at"
)
TRANSITION: Final = (
    "t.id, t.onboarding_id, o.key, t.seq, t.at, t.trigger, t.from_state, t.to_state, t.actor, "
    "t.reason, t.request_id, t.details, t.profile_id, t.batch_id, t.digest"
)
ATTEMPT: Final = (
    "a.id, a.onboarding_id, o.key, a.step, a.item, a.generation, a.attempt, a.method, a.path, "
    "a.at, a.latency_ms, a.outcome, a.idempotency_key, a.http_status, a.error_code, "
    "a.request_id, a.message, a.resource_id, a.replayed"
)
WORKER: Final = (
    "id, host, pid, version, started_at, last_seen, stopped_at, concurrency, in_flight, "
    "heartbeat_seconds"
)


@dataclass(frozen=True)
class ExportFilter:
    """Which rows of the audit log (or of the attempts) to export; ``None`` or empty: any.

    ``until`` is exclusive. ``states`` are destination states (``to_state``); ``actor`` and
    ``states`` do not apply to attempts.
    """

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    states: Sequence[str] = ()
    onboarding_ids: Sequence[str] = ()
    batch_id: str | None = None


@dataclass(frozen=True)
class ListFilter:
    """Which onboardings ``list`` shows beside ``--state``; ``None`` or empty: any.

    ``codes``: ``last_error.code`` is one of these; ``updated_before``: not updated since;
    ``key_prefix``: the key starts with this text (case-sensitive, taken literally).
    """

    codes: Sequence[str] = ()
    updated_before: datetime | None = None
    key_prefix: str | None = None


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


def _in(column: str, prefix: str, values: Iterable[str]) -> tuple[str, dict[str, Any]]:
    params = {f"{prefix}{index}": value for index, value in enumerate(values)}
    return f"{column} IN ({', '.join(':' + name for name in params)})", params


def worker_status(row: dict[str, Any], now: datetime) -> str:
    """``stopped`` (exited cleanly), ``dead`` (missed :data:`DEAD_AFTER_HEARTBEATS`
    heartbeats) or ``live``."""
    if row["stopped_at"] is not None:
        return "stopped"
    silent = (now - row["last_seen"]).total_seconds()
    return "dead" if silent > DEAD_AFTER_HEARTBEATS * row["heartbeat_seconds"] else "live"


class SqlReader:
    """Reads for ``onboarding list/show/history/stuck/export/workers`` on one connection."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def __enter__(self) -> SqlReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.db.close()

    # -------------------------------------------------------------- onboardings
    def find(self, id_or_key: str, *, spec: bool = False) -> dict[str, Any]:
        """One onboarding by id, else by key, else by Sent's profile id.

        Raises:
            OnboardingNotFoundError: none matches.
        """
        columns = ONBOARDING + (", spec" if spec else "")
        for column in ("id", "key", "profile_id"):
            row = self.db.first(
                "read an onboarding",
                f"SELECT {columns} FROM onboardings WHERE {column} = :value",
                {"value": id_or_key},
            )
            if row is not None:
                return row
        raise OnboardingNotFoundError(
            f"no onboarding with id, key or profile id {id_or_key!r}; 'onboarding list' shows them"
        )

    def has_code(self, code: str) -> bool:
        """Whether some onboarding's ``last_error.code`` is exactly ``code`` (an index probe)."""
        found = self.db.first(
            "look up an error code",
            f"SELECT 1 AS found FROM onboardings WHERE "
            f"{self.db.json_field('last_error', 'code')} = :code LIMIT 1",
            {"code": code},
        )
        return found is not None

    def page(
        self,
        *,
        states: Sequence[str] = (),
        after: tuple[datetime, str] | None = None,
        limit: int | None = None,
        wanted: ListFilter | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Onboardings oldest first (by ``created_at``, then ``id``), after a row, streamed."""
        sql, params = self.page_sql(states=states, after=after, limit=limit, wanted=wanted)
        return self.db.rows("list onboardings", sql, params, stream=limit is None)

    def page_sql(
        self,
        *,
        states: Sequence[str] = (),
        after: tuple[datetime, str] | None = None,
        limit: int | None = None,
        wanted: ListFilter | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """The statement of :meth:`page` (for ``EXPLAIN``)."""
        where: list[str] = []
        params: dict[str, Any] = {}
        if states:
            clause, params = _in("state", "s", states)
            where.append(clause)
        if wanted is not None and wanted.codes:
            clause, found = _in(self.db.json_field("last_error", "code"), "c", wanted.codes)
            where.append(clause)
            params.update(found)
        if wanted is not None and wanted.updated_before is not None:
            where.append("updated_at < :updated_before")
            params["updated_before"] = self.db.when(wanted.updated_before)
        if wanted is not None and wanted.key_prefix:
            # substr, not LIKE: SQLite's LIKE ignores case, and the prefix is taken literally.
            where.append("substr(key, 1, :prefix_length) = :prefix")
            params.update(prefix=wanted.key_prefix, prefix_length=len(wanted.key_prefix))
        if after is not None:
            where.append("(created_at, id) > (:after_at, :after_id)")
            params.update(after_at=self.db.when(after[0]), after_id=after[1])
        sql = f"SELECT {ONBOARDING} FROM onboardings"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at, id"
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = limit
        return sql, params

    def history(self, onboarding_id: str) -> list[dict[str, Any]]:
        """The audit log of one onboarding, in order."""
        return self.db.all(
            "read the audit log",
            f"SELECT {TRANSITION} FROM transitions t JOIN onboardings o ON o.id = t.onboarding_id "
            "WHERE t.onboarding_id = :id ORDER BY t.seq",
            {"id": onboarding_id},
        )

    def attempts(self, onboarding_id: str) -> list[dict[str, Any]]:
        """Every API attempt of one onboarding, in order."""
        return self.db.all(
            "read attempts",
            f"SELECT {ATTEMPT} FROM step_attempts a JOIN onboardings o ON o.id = a.onboarding_id "
            "WHERE a.onboarding_id = :id ORDER BY a.id",
            {"id": onboarding_id},
        )

    def resource_ids(self, onboarding_id: str, step: str) -> list[str]:
        """Every resource id Sent answered to ``step``'s calls, newest first."""
        rows = self.db.all(
            "read resource ids",
            "SELECT resource_id FROM step_attempts WHERE onboarding_id = :id AND step = :step "
            "AND resource_id IS NOT NULL ORDER BY id DESC",
            {"id": onboarding_id, "step": step},
        )
        return list(dict.fromkeys(str(r["resource_id"]) for r in rows))

    # ------------------------------------------------------------------ exports
    def _export_where(
        self, alias: str, wanted: ExportFilter, *, transitions: bool
    ) -> tuple[str, dict[str, Any]]:
        where, params = [], {}
        if wanted.since is not None:
            where.append(f"{alias}.at >= :since")
            params["since"] = self.db.when(wanted.since)
        if wanted.until is not None:
            where.append(f"{alias}.at < :until")
            params["until"] = self.db.when(wanted.until)
        if wanted.onboarding_ids:
            clause, found = _in(f"{alias}.onboarding_id", "o", wanted.onboarding_ids)
            where.append(clause)
            params.update(found)
        if transitions and wanted.actor is not None:
            where.append("t.actor = :actor")
            params["actor"] = wanted.actor
        if transitions and wanted.batch_id is not None:
            where.append("t.batch_id = :batch_id")
            params["batch_id"] = wanted.batch_id
        if transitions and wanted.states:
            clause, found = _in("t.to_state", "s", wanted.states)
            where.append(clause)
            params.update(found)
        return (" WHERE " + " AND ".join(where)) if where else "", params

    def transitions(self, wanted: ExportFilter) -> Iterator[dict[str, Any]]:
        """Audit rows in the order they were recorded, with the onboarding's key, streamed."""
        where, params = self._export_where("t", wanted, transitions=True)
        return self.db.rows(
            "export the audit log",
            f"SELECT {TRANSITION} FROM transitions t JOIN onboardings o ON o.id = t.onboarding_id"
            f"{where} ORDER BY t.id",
            params,
            stream=True,
        )

    def attempt_log(self, wanted: ExportFilter) -> Iterator[dict[str, Any]]:
        """API attempts in the order they were made, with the onboarding's key, streamed."""
        where, params = self._export_where("a", wanted, transitions=False)
        return self.db.rows(
            "export attempts",
            f"SELECT {ATTEMPT} FROM step_attempts a JOIN onboardings o ON o.id = a.onboarding_id"
            f"{where} ORDER BY a.id",
            params,
            stream=True,
        )

    # ------------------------------------------------------------------ batches
    def batches(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Bulk actions, newest first."""
        sql = (
            "SELECT id, actor, reason, action, selection, matched, changed, skipped, "
            "started_at, finished_at FROM batches ORDER BY started_at DESC, id"
        )
        params: dict[str, Any] = {}
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = limit
        return self.db.all("read batches", sql, params)

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        """One bulk action by its id (``None``: no such batch)."""
        return self.db.first(
            "read a batch",
            "SELECT id, actor, reason, action, selection, matched, changed, skipped, "
            "started_at, finished_at FROM batches WHERE id = :id",
            {"id": batch_id},
        )

    # ------------------------------------------------------------------ workers
    def workers(self, *, seen_since: datetime | None = None) -> list[dict[str, Any]]:
        """Worker rows, latest heartbeat first: every one not stopped, and the stopped ones
        seen since ``seen_since`` (all of them when ``None``)."""
        sql = f"SELECT {WORKER} FROM workers"
        params: dict[str, Any] = {}
        if seen_since is not None:
            sql += " WHERE stopped_at IS NULL OR last_seen >= :since"
            params["since"] = self.db.when(seen_since)
        return self.db.all("read workers", sql + " ORDER BY last_seen DESC, id", params)

    # -------------------------------------------------------------------- stuck
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
            clause, found = _in("o.state", "s", query.states)
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
        clause, found = _in("r.code", "c", query.codes)
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
        where, params = self._unfinished(query)
        leased = (
            "onboardings o"
            if self.db.postgres
            else "onboardings o INDEXED BY ix_onboardings_leased"
        )
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
        # The rest are few: due later (and not under an expired lease), or leased now.
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
        merged: dict[tuple[str, str | None], dict[str, Any]] = {}
        for group in groups:
            found = merged.setdefault((group["cause"], group["code"]), dict(group, count=0))
            found["count"] += group["count"]
            found["oldest"] = min(found["oldest"], group["oldest"])
        chosen = list(merged.values())
        if query.codes:
            chosen = [g for g in chosen if g["code"] in query.codes]
        return sorted(chosen, key=lambda g: (CAUSES.index(g["cause"]), g["code"] or ""))

    def _counts(self, query: StuckQuery) -> list[dict[str, Any]]:
        """The rows of ``stuck_counts`` for the states asked for (all of them by default)."""
        sql = "SELECT state, code, kind, count FROM stuck_counts WHERE count > 0"
        params: dict[str, Any] = {}
        if query.states:
            clause, params = _in("state", "s", query.states)
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
