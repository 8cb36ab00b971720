"""Leases: claiming due onboardings, loading one, heartbeats and giving a lease back.

Claiming is one ``UPDATE ... WHERE id IN (due rows) RETURNING`` that takes the lease and moves
the version on (with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two workers never run the
same onboarding and a worker whose lease was taken over cannot commit; then one ``SELECT``
reads the claimed onboardings' step records. A worker claims several times a second, so both
run on the DB-API cursor, compiled once (:mod:`persistence.prepared`; ``benchmarks/store_ops.py``
measures ``claim 16``): the ids a claim leaves out or reads are numbered parameters, compiled
once per power of two (the list padded with its first id), not once per size. ``load`` reads
one onboarding through a SQLAlchemy connection.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Final, TypeVar

from sqlalchemy import Column, Integer, and_, bindparam, or_, select, update
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import SQLAlchemyError

from persistence.commits import describe
from persistence.prepared import Prepared, result_processor, transaction
from persistence.rows import CHECKPOINT_COLUMNS, ONBOARDINGS, RECORDS, to_checkpoint, to_record
from workflow.ports import Checkpoint, Claim, OnboardingNotFoundError, StepRecord, StoreError

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


def _padded(ids: Collection[str]) -> list[str]:
    """``ids`` sorted and padded with the first to a power of two (one compilation per size)."""
    listed = sorted(ids)
    size = 1 << (len(listed) - 1).bit_length()
    return listed + listed[:1] * (size - len(listed))


def _claim(postgres: bool, skipping: int) -> Any:
    """The claim at ``now`` for ``owner`` until ``until``, at most ``limit`` rows, oldest due
    first, none of the ids ``skip0`` ... ``skip{skipping - 1}``."""
    now = bindparam("now", type_=O.c.next_attempt_at.type)
    conditions = [
        O.c.next_attempt_at <= now,
        or_(O.c.lease_expires_at.is_(None), O.c.lease_expires_at < now),
    ]
    if skipping:
        conditions.append(O.c.id.not_in([bindparam(f"skip{n}") for n in range(skipping)]))
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


def _records_of(count: int) -> Any:
    """The current generation's step records of the onboardings ``id0`` ... ``id{count - 1}``."""
    return (
        select(RECORDS)
        .join(O, and_(RECORDS.c.onboarding_id == O.c.id, RECORDS.c.generation == O.c.generation))
        .where(O.c.id.in_([bindparam(f"id{n}") for n in range(count)]))
    )


def _decoder(columns: Sequence[Column[Any]], dialect: Dialect) -> Callable[[Any], dict[str, Any]]:
    """A driver row of ``columns`` as a mapping of Python values, as SQLAlchemy decodes it."""
    named = [(c.name, result_processor(c, dialect)) for c in columns]
    return lambda row: {
        name: process(value) for (name, process), value in zip(named, row, strict=True)
    }


class _ClaimCursor:
    """The claim and its records' read, compiled for one dialect on first use of each size."""

    def __init__(self, dialect: Dialect, postgres: bool) -> None:
        self._dialect = dialect
        self._postgres = postgres
        self._claims: dict[int, Prepared] = {}
        self._reads: dict[int, Prepared] = {}
        self.checkpoint = _decoder(CHECKPOINT_COLUMNS, dialect)
        self.record = _decoder(list(RECORDS.c), dialect)

    def claiming(self, skipping: int) -> Prepared:
        found = self._claims.get(skipping)
        if found is None:
            found = Prepared(_claim(self._postgres, skipping), self._dialect)
            found = self._claims.setdefault(skipping, found)
        return found

    def reading(self, count: int) -> Prepared:
        found = self._reads.get(count)
        if found is None:
            found = self._reads.setdefault(count, Prepared(_records_of(count), self._dialect))
        return found

    def claim(self, cursor: Any, values: dict[str, Any], skip: Collection[str]) -> list[Claim]:
        skipped = _padded(skip) if skip else []
        values.update((f"skip{n}", value) for n, value in enumerate(skipped))
        rows = self.claiming(len(skipped)).execute(cursor, values).fetchall()
        checkpoints = [to_checkpoint(self.checkpoint(row)) for row in rows]
        if not checkpoints:
            return []
        found: dict[str, list[StepRecord]] = {c.id: [] for c in checkpoints}
        ids = _padded(found)
        read = self.reading(len(ids)).execute(cursor, {f"id{n}": i for n, i in enumerate(ids)})
        for row in read.fetchall():
            record = self.record(row)
            found[record["onboarding_id"]].append(to_record(record))
        return [Claim(c, found[c.id]) for c in checkpoints]


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
        try:
            with transaction(self.engine) as cursor:
                return self._claim_cursor.claim(cursor, values, skip)
        except SQLAlchemyError as exc:
            raise StoreError(f"could not claim due onboardings: {describe(exc)}") from exc

    @cached_property
    def _claim_cursor(self) -> _ClaimCursor:
        return _ClaimCursor(self.engine.dialect, self._postgres)

    def claim_statement(
        self, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> tuple[str, Any]:
        """The claim's SQL and driver parameters as :meth:`claim` sends them (for query plans)."""
        values = {
            "now": now, "limit": limit, "owner": owner,
            "until": now + timedelta(seconds=lease_seconds),
        }  # fmt: skip
        claiming = self._claim_cursor.claiming(0)
        return claiming.sql, claiming.params(values)

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
