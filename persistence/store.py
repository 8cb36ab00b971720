"""``SqlStore``: the store port over SQLAlchemy Core (SQLite, PostgreSQL).

Durability rules it enforces:

* one transaction per change: the checkpoint update (``WHERE version = :v``, with the audit
  head and its anchor), the audit row and its outbox event, the step records, the API attempts
  and the secret change commit together or not at all;
* zero rows updated is a :class:`~workflow.errors.ConcurrencyError`, never a silent overwrite;
* the update returns the new checkpoint (``RETURNING``): nothing is read back;
* claiming is one ``UPDATE ... WHERE id IN (due rows) RETURNING`` that takes the lease and moves
  the version on (with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two workers never run the
  same onboarding and a worker whose lease was taken over cannot commit.

Claims, commits and secret reads run Core statements on the DB-API cursor
(:mod:`persistence.prepared`): the worker's statements compiled once per dialect, a commit that
names its own columns (an operator's change) compiled for it; one ``_HotPath.append`` writes
what every commit adds. The rest runs through SQLAlchemy's connections. The ORM models only
describe the tables.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

from sqlalchemy import (
    Boolean,
    Integer,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from persistence.audit import AuditReads
from persistence.models import CallbackEventRow, SecretRow
from persistence.outbox import (
    OUTBOX_INSERT_KEYS,
    OutboxQueries,
    outbox_insert,
    outbox_values,
    publish,
)
from persistence.ownership import OwnershipQueries
from persistence.prepared import Prepared, decoder, transaction
from persistence.presence import Presence
from persistence.queries import Queries
from persistence.rate_limits import SqlRateSlots
from persistence.rows import (
    ATTEMPT_KEYS,
    ATTEMPTS,
    CHECKPOINT_COLUMNS,
    ONBOARDINGS,
    RECORD_KEYS,
    RECORDS,
    TRANSITION_KEYS,
    TRANSITIONS,
    attempt_values,
    aware,
    record_values,
    to_checkpoint,
    to_record,
    transition_values,
)
from persistence.selection import Selection
from workflow.errors import ConcurrencyError, OnboardingNotFoundError, StoreError
from workflow.ports import AttemptRecord, Change, Checkpoint, Claim, NewOnboarding, StepRecord

__all__ = ["SqlStore", "StoreError"]

T = TypeVar("T")
O = ONBOARDINGS  # noqa: E741
SECRETS = SecretRow.__table__  # type: ignore[attr-defined]
CALLBACKS = CallbackEventRow.__table__  # type: ignore[attr-defined]
_RECORD_KEY = ("onboarding_id", "generation", "step", "item")


def _describe(exc: SQLAlchemyError) -> str:
    """The driver's first line, never the statement or its parameters."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return f"{type(original).__name__}: {text[0] if text else 'database error'}"


class SqlStore(Presence, Queries, AuditReads, OutboxQueries, OwnershipQueries, Selection):
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
        self._hot = _HotPath(engine.dialect, self._upsert_record, self._postgres)
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
            raise StoreError(f"could not {what}: {_describe(exc)}") from exc

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
            f"after reading the keys already stored each time ({_describe(refused)}); nothing "
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

    def apply(self, change: Change) -> Checkpoint:
        """Apply one change atomically, if nobody wrote the checkpoint since it was read.

        Raises:
            ConcurrencyError: the version moved on (another worker, or an operator, wrote first).
            StoreError: the database failed; nothing was written.
        """
        what = f"commit onboarding {change.onboarding_id}"
        base = change.base
        if (
            base is not None
            and base.version == change.expected_version
            and WHOLE.issuperset(change.update.values())
        ):
            return self._fast(what, lambda cursor: self._apply_whole(cursor, change, base))
        return self._fast(what, lambda cursor: self._apply_partial(cursor, change))

    def _fast(self, what: str, work: Callable[[Any], T]) -> T:
        """``work`` on a DB-API cursor in one transaction; errors as :meth:`_run` raises them."""
        try:
            with transaction(self.engine) as cursor:
                return work(cursor)
        except (ConcurrencyError, OnboardingNotFoundError, IntegrityError):
            raise
        except SQLAlchemyError as exc:
            raise StoreError(f"could not {what}: {_describe(exc)}") from exc

    def _apply_whole(self, cursor: Any, change: Change, base: Checkpoint) -> Checkpoint:
        """The hot path: every versioned column from memory, through one prepared statement,
        then the rows the change adds, all on one cursor."""
        values = {**{name: getattr(base, name) for name in WHOLE}, **change.update.values()}
        values["version"] = change.expected_version + 1
        values["updated_at"] = change.at
        if change.transition is not None:
            values["audit_seq"] = change.transition.seq
            values["audit_head"] = change.transition.digest
            values["audit_anchor"] = change.transition.anchor
        if change.secret is not None:  # whether a secret is held follows what the change does
            values["has_secrets"] = bool(change.secret)
        params = {f"v_{name}": values[name] for name in WHOLE}
        for name in JSON_COLUMNS:
            value = params[f"v_{name}"]
            params[f"v_{name}"] = dict(value) if value is not None else None
        params.update(
            w_id=change.onboarding_id,
            w_version=change.expected_version,
            w_release=change.release is not None,
            w_since=change.wake_if_nudged_since,
            w_now=change.at,
        )
        hot = self._hot
        row = hot.whole.execute(cursor, params).fetchone()
        if row is None:
            raise _concurrency(change)
        lease = (None, None) if change.release is not None else (
            base.lease_owner, base.lease_expires_at
        )  # fmt: skip
        values.update(
            next_attempt_at=hot.moment(row)["next_attempt_at"],
            lease_owner=lease[0],
            lease_expires_at=lease[1],
        )
        hot.append(cursor, change)
        return dataclasses.replace(base, **values)

    def _apply_partial(self, cursor: Any, change: Change) -> Checkpoint:
        """Any other change: the columns it names, through a statement compiled for it, then the
        rows it adds on the same cursor."""
        values: dict[str, Any] = change.update.values()
        if "last_error" in values and values["last_error"] is not None:
            values["last_error"] = dict(values["last_error"])
        if "spec" in values:
            values["spec"] = dict(values["spec"])
        values["version"] = change.expected_version + 1
        values["updated_at"] = change.at
        entry = change.transition
        if entry is not None:
            values["audit_seq"] = entry.seq
            values["audit_head"] = entry.digest
            values["audit_anchor"] = entry.anchor
        if change.release is not None:
            values["lease_owner"] = None
            values["lease_expires_at"] = None
        if change.secret is not None:
            values["has_secrets"] = bool(change.secret)
        since = change.wake_if_nudged_since
        if since is not None and values.get("next_attempt_at") is not None:
            # A callback that arrived while the step ran keeps it due: the wait is over.
            values["next_attempt_at"] = _due_if_nudged(since, change.at, values["next_attempt_at"])
        statement = (
            update(O)
            .where(O.c.id == change.onboarding_id, O.c.version == change.expected_version)
            .values(values)
            .returning(*CHECKPOINT_COLUMNS)
        )
        row = Prepared(statement, self.engine.dialect).execute(cursor, {}).fetchone()
        if row is None:
            raise _concurrency(change)
        self._hot.append(cursor, change)
        return to_checkpoint(self._hot.checkpoint(row))

    def record_attempts(self, onboarding_id: str, attempts: Iterable[AttemptRecord]) -> None:
        """Append attempts without touching the checkpoint (used when a change was refused)."""
        rows = [attempt_values(onboarding_id, a) for a in attempts]
        if rows:
            self._run(
                f"record attempts of {onboarding_id}", lambda c: c.execute(insert(ATTEMPTS), rows)
            )

    # ----------------------------------------------------------------- leases
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
        hot = self._hot
        until = now + timedelta(seconds=lease_seconds)
        return self._fast(
            "claim due onboardings",
            lambda cursor: hot.claim(
                cursor, owner=owner, now=now, until=until, limit=limit, skip=skip
            ),
        )

    def claim_statement(
        self, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> tuple[str, Any]:
        """The claim's SQL and driver parameters as :meth:`claim` sends them (for query plans)."""
        values = {
            "now": now, "limit": limit, "owner": owner,
            "until": now + timedelta(seconds=lease_seconds),
        }  # fmt: skip
        return self._hot.claimed.sql, self._hot.claimed.params(values)

    def _with_records(self, connection: Connection, checkpoints: list[Checkpoint]) -> list[Claim]:
        if not checkpoints:
            return []
        found: dict[str, list[StepRecord]] = {c.id: [] for c in checkpoints}
        query = (
            select(RECORDS)
            .join(
                O, and_(RECORDS.c.onboarding_id == O.c.id, RECORDS.c.generation == O.c.generation)
            )
            .where(O.c.id.in_(list(found)))
        )
        for row in connection.execute(query):
            found[row.onboarding_id].append(to_record(row._mapping))
        return [Claim(c, found[c.id]) for c in checkpoints]

    def load(self, onboarding_id: str) -> Claim:
        """One onboarding's checkpoint and records, without a lease."""

        def work(connection: Connection) -> Claim:
            row = connection.execute(
                select(*CHECKPOINT_COLUMNS).where(O.c.id == onboarding_id)
            ).first()
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
        """The sealed secrets of one onboarding, if still held."""
        hot = self._hot
        row = self._fast(
            "read a secret",
            lambda cursor: hot.secret.execute(cursor, {"id": onboarding_id}).fetchone(),
        )
        return None if row is None else bytes(row[0])

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
        moment = self._run(
            "find the next due onboarding",
            lambda c: c.execute(select(func.min(O.c.next_attempt_at))).scalar_one(),
        )
        return aware(moment)


def _concurrency(change: Change) -> ConcurrencyError:
    return ConcurrencyError(
        f"onboarding {change.onboarding_id} changed since version {change.expected_version} "
        "was read; the outcome was discarded and will be recomputed"
    )


#: Columns the checkpoint's version guards, written whole on the hot path. Not among them: the
#: lease (a heartbeat moves it without a version), the nudge time (a callback sets it), and the
#: spec and its fingerprints (changed only by an amend, through the partial path).
WHOLE: Final = frozenset(
    c.name
    for c in CHECKPOINT_COLUMNS
    if c.name
    not in {"id", "key", "created_at", "created_by", "lease_owner", "lease_expires_at", "spec",
            "fingerprint", "secrets_fingerprint"}
)  # fmt: skip
JSON_COLUMNS: Final = ("last_error",)


def _whole_update() -> Any:
    kind = O.c.next_attempt_at.type
    values: dict[str, Any] = {name: bindparam(f"v_{name}", type_=O.c[name].type) for name in WHOLE}
    since = bindparam("w_since", type_=kind)
    # A callback that arrived while the step ran keeps it due: the wait is over.
    values["next_attempt_at"] = case(
        (and_(since.is_not(None), O.c.nudged_at >= since), bindparam("w_now", type_=kind)),
        else_=values["next_attempt_at"],
    )
    release = bindparam("w_release", type_=Boolean())
    values["lease_owner"] = case((release, null()), else_=O.c.lease_owner)
    values["lease_expires_at"] = case((release, null()), else_=O.c.lease_expires_at)
    return (
        update(O)
        .where(O.c.id == bindparam("w_id"), O.c.version == bindparam("w_version"))
        .values(values)
        .returning(O.c.next_attempt_at)
    )


WHOLE_UPDATE: Final = _whole_update()
INSERT_TRANSITION: Final = insert(TRANSITIONS)
INSERT_ATTEMPT: Final = insert(ATTEMPTS)


def _due_if_nudged(since: datetime, now: datetime, planned: datetime) -> Any:
    kind = O.c.next_attempt_at.type
    return case(
        (O.c.nudged_at >= literal(since, kind), literal(now, kind)), else_=literal(planned, kind)
    )


def _claim_statement(postgres: bool, skipping: int = 0) -> Any:
    """The claim; ``skipping`` ids (``skip0`` ...) are left out of it."""
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


class _HotPath:
    """The worker's statements, compiled once for one dialect (see :mod:`persistence.prepared`)."""

    def __init__(self, dialect: Any, upsert_record: Any, postgres: bool) -> None:
        self.postgres = postgres
        self.whole = Prepared(WHOLE_UPDATE, dialect)
        # ``inline()``: nothing reads the new rows' ids back (no ``RETURNING`` on PostgreSQL).
        self.transition = Prepared(INSERT_TRANSITION.inline(), dialect, TRANSITION_KEYS)
        self.outbox = Prepared(outbox_insert(postgres).inline(), dialect, OUTBOX_INSERT_KEYS)
        self.record = Prepared(upsert_record, dialect, RECORD_KEYS)
        self.attempt = Prepared(INSERT_ATTEMPT.inline(), dialect, ATTEMPT_KEYS)
        self.drop_secret = Prepared(
            delete(SECRETS).where(SECRETS.c.onboarding_id == bindparam("id")), dialect
        )
        self.seal = Prepared(
            insert(SECRETS), dialect, ("onboarding_id", "ciphertext", "created_at")
        )
        self.secret = Prepared(
            select(SECRETS.c.ciphertext).where(SECRETS.c.onboarding_id == bindparam("id")), dialect
        )
        self.key = Prepared(select(O.c.key).where(O.c.id == bindparam("id")), dialect)
        self.claimed = Prepared(_claim_statement(postgres), dialect)
        self._dialect = dialect
        self._records_of: dict[int, Prepared] = {}
        self._claims_skipping: dict[int, Prepared] = {}
        self.checkpoint = decoder(CHECKPOINT_COLUMNS)
        self._record = decoder(list(RECORDS.c))
        self.moment = decoder([O.c.next_attempt_at])

    def claim(
        self,
        cursor: Any,
        *,
        owner: str,
        now: datetime,
        until: datetime,
        limit: int,
        skip: Collection[str] = (),
    ) -> list[Claim]:
        values: dict[str, Any] = {"now": now, "limit": limit, "owner": owner, "until": until}
        statement = self.claimed
        if skip:
            skipped = sorted(skip)
            # Compiled once per power of two (the list padded with its first id), not per size.
            size = 1 << (len(skipped) - 1).bit_length()
            skipped += skipped[:1] * (size - len(skipped))
            statement = self._claims_skipping.get(size) or self._claims_skipping.setdefault(
                size, Prepared(_claim_statement(self.postgres, size), self._dialect)
            )
            values.update((f"skip{n}", value) for n, value in enumerate(skipped))
        rows = statement.execute(cursor, values).fetchall()
        checkpoints = [to_checkpoint(self.checkpoint(row)) for row in rows]
        if not checkpoints:
            return []
        found: dict[str, list[StepRecord]] = {c.id: [] for c in checkpoints}
        ids = {f"id{n}": c.id for n, c in enumerate(checkpoints)}
        for row in self._records_statement(len(ids)).execute(cursor, ids).fetchall():
            record = self._record(row)
            found[record["onboarding_id"]].append(to_record(record))
        return [Claim(c, found[c.id]) for c in checkpoints]

    def _records_statement(self, count: int) -> Prepared:
        """The current generation's records of ``count`` onboardings: one statement a claim,
        compiled once for each number of onboardings claimed."""
        prepared = self._records_of.get(count)
        if prepared is None:
            statement = (
                select(RECORDS)
                .join(
                    O,
                    and_(RECORDS.c.onboarding_id == O.c.id, RECORDS.c.generation == O.c.generation),
                )
                .where(O.c.id.in_([bindparam(f"id{n}") for n in range(count)]))
            )
            prepared = self._records_of.setdefault(count, Prepared(statement, self._dialect))
        return prepared

    def append(self, cursor: Any, change: Change) -> None:
        """What a change adds beside the checkpoint: audit row, event, records, attempts, secret."""
        entry = change.transition
        oid = change.onboarding_id
        if entry is not None:
            self.transition.execute(cursor, transition_values(oid, entry))
            key = change.base.key if change.base is not None else None
            if key is None:
                key = self.key.execute(cursor, {"id": oid}).fetchone()[0]
            self.outbox.execute(cursor, outbox_values(oid, key, entry))
        if change.records:
            self.record.execute_many(
                cursor, [record_values(oid, r, change.at) for r in change.records]
            )
        if change.attempts:
            self.attempt.execute_many(cursor, [attempt_values(oid, a) for a in change.attempts])
        if change.secret is not None:
            self.drop_secret.execute(cursor, {"id": oid})
            if change.secret:
                self.seal.execute(
                    cursor,
                    {"onboarding_id": oid, "ciphertext": change.secret, "created_at": change.at},
                )
