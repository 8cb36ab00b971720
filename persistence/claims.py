"""Leases: claiming due onboardings, loading one, heartbeats and giving a lease back.

Claiming is one ``UPDATE ... WHERE id IN (due rows) RETURNING`` that takes the lease and moves
the version on (with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two workers never run the
same onboarding and a worker whose lease was taken over cannot commit; then one ``SELECT``
reads the claimed onboardings' step records. Both statements are built once per dialect, the
ids they leave out or read as expanding parameters, so SQLAlchemy compiles each once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Final, TypeVar

from sqlalchemy import Integer, and_, bindparam, event, or_, select, update
from sqlalchemy.engine import Connection, Engine

from persistence.rows import CHECKPOINT_COLUMNS, ONBOARDINGS, RECORDS, to_checkpoint, to_record
from workflow.ports import Checkpoint, Claim, OnboardingNotFoundError, StepRecord

__all__ = ["Claims"]

T = TypeVar("T")
O = ONBOARDINGS  # noqa: E741

#: The current generation's step records of the onboardings ``ids``.
RECORDS_OF: Final = (
    select(RECORDS)
    .join(O, and_(RECORDS.c.onboarding_id == O.c.id, RECORDS.c.generation == O.c.generation))
    .where(O.c.id.in_(bindparam("ids", expanding=True)))
)
LOAD: Final = select(*CHECKPOINT_COLUMNS).where(O.c.id == bindparam("id"))


@cache
def _claim(postgres: bool, skipping: bool) -> Any:
    """The claim at ``now`` for ``owner`` until ``until``, at most ``limit`` rows, oldest due
    first; with ``skipping``, none of the ids ``skip``."""
    now = bindparam("now", type_=O.c.next_attempt_at.type)
    conditions = [
        O.c.next_attempt_at <= now,
        or_(O.c.lease_expires_at.is_(None), O.c.lease_expires_at < now),
    ]
    if skipping:
        conditions.append(O.c.id.not_in(bindparam("skip", expanding=True)))
    due = (
        select(O.c.id)
        .where(*conditions)
        .order_by(O.c.next_attempt_at)
        .limit(bindparam("limit", type_=Integer()))
    )
    if postgres:
        due = due.with_for_update(skip_locked=True)
    return (
        update(O)
        .where(O.c.id.in_(due))
        .values(
            lease_owner=bindparam("owner"),
            lease_expires_at=bindparam("until", type_=O.c.lease_expires_at.type),
            version=O.c.version + 1,
        )
        .returning(*CHECKPOINT_COLUMNS)
    )


class Claims:
    """The lease side of :class:`~persistence.store.SqlStore`."""

    engine: Engine
    _postgres: bool

    def _run(self, what: str, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    def claim(
        self,
        owner: str,
        now: datetime,
        lease_seconds: float,
        limit: int,
        *,
        skip: Collection[str] = (),
    ) -> list[Claim]:
        """Lease up to ``limit`` due onboardings not leased by a live worker, oldest due first,
        none of those in ``skip``."""
        if limit <= 0:
            return []
        values: dict[str, Any] = {
            "now": now, "limit": limit, "owner": owner,
            "until": now + timedelta(seconds=lease_seconds),
        }  # fmt: skip
        if skip:
            values["skip"] = sorted(skip)
        statement = _claim(self._postgres, bool(skip))

        def work(connection: Connection) -> list[Claim]:
            rows = connection.execute(statement, values).all()
            return self._with_records(connection, [to_checkpoint(row._mapping) for row in rows])

        return self._run("claim due onboardings", work)

    def claim_statement(
        self, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> tuple[str, Any]:
        """The claim's SQL and driver parameters as :meth:`claim` sends them (for query plans):
        the claim runs in a transaction rolled back, and what reached the driver is kept."""
        sent: list[tuple[str, Any]] = []

        def keep(_c: Any, _cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
            sent.append((sql, parameters))

        statement = _claim(self._postgres, False)
        values = {
            "now": now, "limit": limit, "owner": owner,
            "until": now + timedelta(seconds=lease_seconds),
        }  # fmt: skip
        with self.engine.connect() as connection:
            event.listen(connection, "before_cursor_execute", keep)
            connection.execute(statement, values)
            connection.rollback()
        return sent[0]

    def _with_records(self, connection: Connection, checkpoints: list[Checkpoint]) -> list[Claim]:
        if not checkpoints:
            return []
        found: dict[str, list[StepRecord]] = {c.id: [] for c in checkpoints}
        for row in connection.execute(RECORDS_OF, {"ids": list(found)}):
            found[row.onboarding_id].append(to_record(row._mapping))
        return [Claim(c, found[c.id]) for c in checkpoints]

    def load(self, onboarding_id: str) -> Claim:
        """One onboarding's checkpoint and records, without a lease."""

        def work(connection: Connection) -> Claim:
            row = connection.execute(LOAD, {"id": onboarding_id}).first()
            if row is None:
                raise OnboardingNotFoundError(f"no onboarding with id {onboarding_id!r}")
            return self._with_records(connection, [to_checkpoint(row._mapping)])[0]

        return self._run(f"read onboarding {onboarding_id}", work)

    def extend_leases(self, ids: Iterable[str], owner: str, until: datetime) -> None:
        """Heartbeat: push the lease expiry of onboardings this worker still holds."""
        held = list(ids)
        if held:
            self._run(
                "extend leases",
                lambda c: c.execute(
                    update(O)
                    .where(O.c.id.in_(held), O.c.lease_owner == owner)
                    .values(lease_expires_at=until)
                ),
            )

    def release(self, onboarding_id: str, owner: str) -> None:
        """Give the lease back (no version change: the lease is not part of the checkpoint)."""
        self._run(
            f"release onboarding {onboarding_id}",
            lambda c: c.execute(
                update(O)
                .where(O.c.id == onboarding_id, O.c.lease_owner == owner)
                .values(lease_owner=None, lease_expires_at=None)
            ),
        )
