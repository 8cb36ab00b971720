"""Operator and auditor reads, straight through the DB-API driver (:mod:`persistence.dbapi`).

Every query here is an index range however many finished onboardings are stored (migration
0004): a page of the list walks ``(created_at, id)``; ``stuck`` reads only unfinished rows (the
partial index ``ix_onboardings_unfinished``); exports stream in the order rows were recorded.

Why an onboarding is stuck is read by :mod:`persistence.stuck`; the reads the store makes too
(an onboarding, its audit log, its attempts) are written once in :mod:`persistence.lookups`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from persistence import lookups
from persistence.dbapi import Database
from persistence.lookups import ATTEMPT, ONBOARDING, TRANSITION
from persistence.stuck import CAUSES, StuckQuery, StuckReads, in_list

__all__ = [
    "CAUSES",
    "DEAD_AFTER_HEARTBEATS",
    "ONBOARDING",
    "ExportFilter",
    "ListFilter",
    "SqlReader",
    "StuckQuery",
    "worker_status",
]

#: A worker that has not stopped but missed this many heartbeats is dead (killed, host lost).
DEAD_AFTER_HEARTBEATS: Final = 3

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


def worker_status(row: dict[str, Any], now: datetime) -> str:
    """``stopped`` (exited cleanly), ``dead`` (missed :data:`DEAD_AFTER_HEARTBEATS`
    heartbeats) or ``live``."""
    if row["stopped_at"] is not None:
        return "stopped"
    silent = (now - row["last_seen"]).total_seconds()
    return "dead" if silent > DEAD_AFTER_HEARTBEATS * row["heartbeat_seconds"] else "live"


class SqlReader(StuckReads):
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
        return lookups.find(self.db.all, id_or_key, columns, ("id", "key", "profile_id"))

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
            clause, params = in_list("state", "s", states)
            where.append(clause)
        if wanted is not None and wanted.codes:
            clause, found = in_list(self.db.json_field("last_error", "code"), "c", wanted.codes)
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
        return lookups.history(self.db.all, onboarding_id)

    def attempts(self, onboarding_id: str) -> list[dict[str, Any]]:
        """Every API attempt of one onboarding, in order."""
        return lookups.attempts(self.db.all, onboarding_id)

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
            clause, found = in_list(f"{alias}.onboarding_id", "o", wanted.onboarding_ids)
            where.append(clause)
            params.update(found)
        if transitions and wanted.actor is not None:
            where.append("t.actor = :actor")
            params["actor"] = wanted.actor
        if transitions and wanted.batch_id is not None:
            where.append("t.batch_id = :batch_id")
            params["batch_id"] = wanted.batch_id
        if transitions and wanted.states:
            clause, found = in_list("t.to_state", "s", wanted.states)
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
