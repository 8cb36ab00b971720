"""Worker heartbeats: the ``workers`` table, one row per worker process, upserted as it runs.

A running :class:`~workflow.engine.runner.Worker` writes its row every few seconds (and once more
with ``stopped_at`` when it exits cleanly); ``onboarding workers`` and ``onboarding stuck`` read it
to tell live workers from dead ones. Rows are never deleted: a dead worker's row says when it
was last seen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from typing import Any, Final, TypeVar

from sqlalchemy import Column, Table
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, SQLModel

from persistence.models import UtcDateTime
from workflow.ports import WorkerPresence

__all__ = ["Presence", "WorkerRow"]

T = TypeVar("T")


class WorkerRow(SQLModel, table=True):
    """The last heartbeat of one worker process."""

    __tablename__ = "workers"

    id: str = Field(primary_key=True, max_length=128)
    host: str = Field(max_length=255)
    pid: int
    version: str = Field(max_length=64)
    started_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    last_seen: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False, index=True))
    stopped_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True)
    )
    concurrency: int
    in_flight: int
    heartbeat_seconds: float


WORKERS: Final[Table] = WorkerRow.__table__  # type: ignore[attr-defined]
#: What a heartbeat replaces; ``started_at`` stays as the first heartbeat wrote it.
_REPLACED: Final = (
    "host", "pid", "version", "last_seen", "stopped_at", "concurrency", "in_flight",
    "heartbeat_seconds",
)  # fmt: skip


class Presence:
    """The heartbeat writes of :class:`~persistence.store.SqlStore`."""

    engine: Engine

    def _run(self, what: str, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    @cached_property
    def _upsert_worker(self) -> Any:
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        statement = insert(WORKERS)
        return statement.on_conflict_do_update(
            index_elements=["id"], set_={name: statement.excluded[name] for name in _REPLACED}
        )

    def record_worker(self, worker: WorkerPresence) -> None:
        """Insert or replace a worker's heartbeat row (one statement, its own transaction)."""
        values = {
            "id": worker.id, "host": worker.host, "pid": worker.pid, "version": worker.version,
            "started_at": worker.started_at, "last_seen": worker.last_seen,
            "stopped_at": worker.stopped_at, "concurrency": worker.concurrency,
            "in_flight": worker.in_flight, "heartbeat_seconds": worker.heartbeat_seconds,
        }  # fmt: skip
        self._run(
            f"record the heartbeat of worker {worker.id}",
            lambda c: c.execute(self._upsert_worker, values),
        )
