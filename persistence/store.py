"""``SqlStore``: the store port over SQLAlchemy Core (SQLite, PostgreSQL).

Durability rules it enforces:

* one transaction per change: the checkpoint update (``WHERE version = :v``, with the audit
  head and its anchor), the audit row and its outbox event, the step records, the API attempts
  and the secret change commit together or not at all (:mod:`persistence.commits`);
* zero rows updated is a :class:`~workflow.ports.ConcurrencyError`, never a silent overwrite;
* the update returns the new checkpoint (``RETURNING``): nothing is read back;
* claiming is one ``UPDATE ... WHERE id IN (due rows) RETURNING`` that takes the lease and moves
  the version on (with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two workers never run the
  same onboarding and a worker whose lease was taken over cannot commit
  (:mod:`persistence.claims`).

Every statement runs on a SQLAlchemy connection; the frequent ones are built once (their values
bound parameters), so SQLAlchemy's compiled cache compiles each once per dialect. Values are
converted by the column types of :mod:`persistence.models` both ways (times as aware UTC, JSON,
booleans). The ORM models only describe the tables.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any, Final, TypeVar

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from persistence.audit import AuditReads
from persistence.claims import Claims
from persistence.commits import SECRETS, Commits, describe
from persistence.models import CallbackEventRow
from persistence.outbox import OutboxQueries, publish
from persistence.ownership import OwnershipQueries
from persistence.prepared import Prepared, transaction
from persistence.presence import Presence
from persistence.queries import Queries
from persistence.rate_limits import SqlRateSlots
from persistence.rows import (
    ATTEMPTS,
    CHECKPOINT_COLUMNS,
    ONBOARDINGS,
    RECORDS,
    TRANSITIONS,
    attempt_values,
    to_checkpoint,
    to_record,
    transition_values,
)
from persistence.selection import Selection
from workflow.ports import (
    AttemptRecord,
    Checkpoint,
    ConcurrencyError,
    NewOnboarding,
    OnboardingNotFoundError,
    StepRecord,
    StoreError,
    as_utc,
)

__all__ = ["SqlStore", "StoreError"]

T = TypeVar("T")
O = ONBOARDINGS  # noqa: E741
CALLBACKS = CallbackEventRow.__table__  # type: ignore[attr-defined]
_RECORD_KEY = ("onboarding_id", "generation", "step", "item")
SECRET_OF: Final = select(SECRETS.c.ciphertext).where(SECRETS.c.onboarding_id == bindparam("id"))


class SqlStore(
    Claims, Commits, Presence, Queries, AuditReads, OutboxQueries, OwnershipQueries, Selection
):
    """Checkpoints, step records, the audit log, attempts, callbacks and sealed secrets in SQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        if self._postgres:
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
        statement = upsert(RECORDS)
        self._upsert_record = statement.on_conflict_do_update(
            index_elements=list(_RECORD_KEY),
            set_={
                c.name: statement.excluded[c.name] for c in RECORDS.c if c.name not in _RECORD_KEY
            },
        )
        self._slots = SqlRateSlots(engine)

    @classmethod
    def from_url(cls, url: str | None = None) -> SqlStore:
        """A store on ``url``, else ``ONBOARDING_DATABASE_URL``, else ``sqlite:///onboarding.db``
        (see :func:`persistence.db.database_url`); :meth:`close` disposes of its engine.

        Raises:
            StoreError: the URL names a database or driver other than SQLite or PostgreSQL
                through psycopg.
        """
        from persistence.db import make_engine

        return cls(make_engine(url))

    def close(self) -> None:
        """Close the engine's pooled connections (a later call opens new ones)."""
        self.engine.dispose()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, what: str, work: Callable[[Connection], T]) -> T:
        try:
            with self.engine.begin() as connection:
                return work(connection)
        except (ConcurrencyError, OnboardingNotFoundError, IntegrityError):
            raise
        except SQLAlchemyError as exc:
            raise StoreError(f"could not {what}: {describe(exc)}") from exc

    # ------------------------------------------------------------------ writes
    def insert_many(
        self,
        new: Sequence[NewOnboarding],
        *,
        check: Callable[[Checkpoint, NewOnboarding], None] | None = None,
    ) -> list[tuple[Checkpoint, bool]]:
        """Store every new onboarding in one transaction, with its first audit row and secret.

        Keys that exist already are left alone and come back with ``created=False``: starting
        twice is a no-op. ``check`` sees each of them first, inside the transaction, and may
        raise (a different spec under the key): then nothing is stored. Either every new row is
        stored or none is.
        """
        keys = ", ".join(repr(n.checkpoint.key) for n in new[:3]) + (" ..." if len(new) > 3 else "")
        refused: IntegrityError | None = None
        for _ in range(3):  # a concurrent start of the same key: read it, try again
            try:
                return self._run(f"store onboardings {keys}", lambda c: self._insert(c, new, check))
            except IntegrityError as exc:
                refused = exc
        assert refused is not None
        raise StoreError(
            f"could not store onboardings {keys}: the database refused the rows three times, "
            f"after reading the keys already stored each time ({describe(refused)}); nothing "
            "was stored"
        ) from refused

    def _insert(
        self,
        connection: Connection,
        new: Sequence[NewOnboarding],
        check: Callable[[Checkpoint, NewOnboarding], None] | None,
    ) -> list[tuple[Checkpoint, bool]]:
        keys = [n.checkpoint.key for n in new]
        existing = {
            row.key: to_checkpoint(row._mapping)
            for row in connection.execute(select(*CHECKPOINT_COLUMNS).where(O.c.key.in_(keys)))
        }
        if check is not None:
            for item in new:
                if item.checkpoint.key in existing:
                    check(existing[item.checkpoint.key], item)
        fresh = {n.checkpoint.key: n for n in new if n.checkpoint.key not in existing}
        rows = [
            {c.name: getattr(n.checkpoint, c.name) for c in CHECKPOINT_COLUMNS}
            for n in fresh.values()
        ]
        if rows:
            for row in rows:
                row["spec"] = dict(row["spec"])
            connection.execute(insert(O), rows)
            connection.execute(
                insert(TRANSITIONS),
                [transition_values(n.checkpoint.id, n.transition) for n in fresh.values()],
            )
            publish(
                connection,
                self._postgres,
                [(n.checkpoint.id, n.checkpoint.key, n.transition) for n in fresh.values()],
            )
            sealed = [
                {
                    "onboarding_id": n.checkpoint.id,
                    "ciphertext": n.secret,
                    "created_at": n.transition.at,
                }
                for n in fresh.values()
                if n.secret
            ]
            if sealed:
                connection.execute(insert(SECRETS), sealed)
        return [
            (existing[key], False) if key in existing else (fresh[key].checkpoint, True)
            for key in keys
        ]

    def record_attempts(self, onboarding_id: str, attempts: Iterable[AttemptRecord]) -> None:
        """Append attempts without touching the checkpoint (used when a change was refused)."""
        rows = [attempt_values(onboarding_id, a) for a in attempts]
        if rows:
            self._run(
                f"record attempts of {onboarding_id}", lambda c: c.execute(insert(ATTEMPTS), rows)
            )

    # -------------------------------------------------------------- callbacks
    def has_onboarding(self, onboarding_id: str) -> bool:
        """Whether an onboarding with this id exists."""
        return bool(
            self._run(
                "look up an onboarding",
                lambda c: c.execute(select(O.c.id).where(O.c.id == onboarding_id)).first(),
            )
        )

    def record_callback(
        self,
        onboarding_id: str,
        webhook_id: str | None,
        status: str | None,
        payload: dict[str, Any] | None,
        now: datetime,
    ) -> bool:
        """Store an accepted callback and wake its onboarding; False for a replayed webhook id.

        A callback without a webhook id cannot be told from a replay: it replaces the previous
        one of its onboarding, so a flood of them keeps one row per onboarding, not one per post.
        """
        values = {"received_at": now, "status": status, "payload": payload}

        def work(connection: Connection) -> None:
            replaced = 0
            if webhook_id is None:
                replaced = connection.execute(
                    update(CALLBACKS)
                    .where(
                        CALLBACKS.c.onboarding_id == onboarding_id,
                        CALLBACKS.c.webhook_id.is_(None),
                    )
                    .values(values)
                ).rowcount
            if not replaced:
                connection.execute(
                    insert(CALLBACKS),
                    {"onboarding_id": onboarding_id, "webhook_id": webhook_id, **values},
                )
            connection.execute(
                update(O)
                .where(O.c.id == onboarding_id, O.c.wake_on_callback.is_(True))
                .values(next_attempt_at=now, nudged_at=now)
            )

        try:
            self._run(f"record a callback for {onboarding_id}", work)
        except IntegrityError:
            return False
        return True

    def latest_callback(self, onboarding_id: str, since: datetime) -> dict[str, Any] | None:
        """The payload of the newest callback of an onboarding received at or after ``since``."""
        row = self._run(
            "read a callback",
            lambda c: c.execute(
                select(CALLBACKS.c.payload)
                .where(CALLBACKS.c.onboarding_id == onboarding_id, CALLBACKS.c.received_at >= since)
                .order_by(CALLBACKS.c.received_at.desc(), CALLBACKS.c.id.desc())
                .limit(1)
            ).first(),
        )
        if row is None or not isinstance(row[0], dict):
            return None
        return dict(row[0])

    # ------------------------------------------------------------- rate limits
    def take_slot(
        self, endpoint_class: str, per_minute: float, now: datetime, held: datetime | None
    ) -> datetime | None:
        """A slot of a rate-limited endpoint class (see :mod:`persistence.rate_limits`)."""
        return self._slots.take_slot(endpoint_class, per_minute, now, held)

    def slow_down(self, endpoint_class: str, until: datetime) -> None:
        """Hold an endpoint class back after a 429."""
        self._slots.slow_down(endpoint_class, until)

    def count_rate_waiting(self) -> dict[str, int]:
        """How many unfinished onboardings wait for a slot, by endpoint class."""
        rows = self._run(
            "count the onboardings waiting for a rate slot",
            lambda c: c.execute(
                select(O.c.rate_class, func.count())
                .where(O.c.rate_class.is_not(None), O.c.finished_at.is_(None))
                .group_by(O.c.rate_class)
            ).all(),
        )
        return {str(r[0]): int(r[1]) for r in rows}

    # ---------------------------------------------------------------- secrets
    def read_secret(self, onboarding_id: str) -> bytes | None:
        """The sealed secrets of one onboarding, if still held.

        A worker reads them in the step that sends them; the read runs prepared on the DB-API
        cursor (:mod:`persistence.prepared`), like the claim and the commit around it.
        """
        try:
            with transaction(self.engine) as cursor:
                row = self._secret_of.execute(cursor, {"id": onboarding_id}).fetchone()
        except SQLAlchemyError as exc:
            raise StoreError(f"could not read a secret: {describe(exc)}") from exc
        return None if row is None else bytes(row[0])

    @cached_property
    def _secret_of(self) -> Prepared:
        return Prepared(SECRET_OF, self.engine.dialect)

    def resource_ids(self, onboarding_id: str, step: str) -> list[str]:
        """Every resource id Sent answered to ``step``'s calls for this onboarding, newest first."""
        rows = self._run(
            "read resource ids",
            lambda c: c.execute(
                select(ATTEMPTS.c.resource_id)
                .where(
                    ATTEMPTS.c.onboarding_id == onboarding_id,
                    ATTEMPTS.c.step == step,
                    ATTEMPTS.c.resource_id.is_not(None),
                )
                .order_by(ATTEMPTS.c.id.desc())
            ).all(),
        )
        return list(dict.fromkeys(str(r[0]) for r in rows))

    def records(self, onboarding_id: str, generation: int) -> list[StepRecord]:
        """The step records of one generation."""
        rows = self._run(
            "read step records",
            lambda c: c.execute(
                select(RECORDS).where(
                    RECORDS.c.onboarding_id == onboarding_id, RECORDS.c.generation == generation
                )
            ).all(),
        )
        return [to_record(r._mapping) for r in rows]

    def count_active(self, *, exclude: Collection[str] = ()) -> int:
        """How many onboardings still have something to do (a next attempt is set), those in
        ``exclude`` not counted."""
        query = select(func.count()).select_from(O).where(O.c.next_attempt_at.is_not(None))
        if exclude:
            query = query.where(O.c.id.not_in(list(exclude)))
        return int(self._run("count runnable onboardings", lambda c: c.execute(query).scalar_one()))

    def next_due(self) -> datetime | None:
        """When the next runnable onboarding becomes due."""
        moment: datetime | None = self._run(
            "find the next due onboarding",
            lambda c: c.execute(select(func.min(O.c.next_attempt_at))).scalar_one(),
        )
        return as_utc(moment)
