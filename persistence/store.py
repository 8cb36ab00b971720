"""``SqlStore``: every SQL statement of the project.

Durability rules it enforces:

* one transaction per step outcome: the checkpoint update (``WHERE version = :v``), the audit
  row, the step attempts and the secret deletion commit together or not at all;
* zero rows updated is a :class:`~workflow.errors.ConcurrencyError`, never a silent overwrite;
* claiming due work is a conditional update of lease and version (with ``FOR UPDATE SKIP
  LOCKED`` on PostgreSQL), so two workers never run the same onboarding at once and a worker
  whose lease was taken over cannot commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from persistence.models import (
    CallbackEventRow,
    OnboardingRow,
    SecretRow,
    StepAttemptRow,
    TransitionRow,
)
from workflow.errors import ConcurrencyError, OnboardingError, OnboardingNotFoundError
from workflow.machine import ACTIVE_STATES
from workflow.ports import AttemptRecord, AuditEntry

__all__ = ["SqlStore", "StoreError"]


class StoreError(OnboardingError):
    """The database failed (connection lost, constraint broken); the message says which call."""


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: every stored time is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _normalise(row: OnboardingRow) -> OnboardingRow:
    for name in (
        "next_attempt_at", "step_started_at", "lease_expires_at", "completion_deadline",
        "created_at", "updated_at", "finished_at",
    ):  # fmt: skip
        setattr(row, name, aware(getattr(row, name)))
    return row


class SqlStore:
    """Checkpoints, audit log, attempts, callbacks and encrypted secrets in SQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # ------------------------------------------------------------------ writes
    def insert(
        self, row: OnboardingRow, entry: AuditEntry, secret: bytes | None
    ) -> tuple[OnboardingRow, bool]:
        """Store a new onboarding with its first audit row; returns ``(row, created)``.

        When the key exists already, nothing is written and the stored row is returned with
        ``created=False``: starting twice is a no-op (the caller compares fingerprints).
        """
        try:
            with self._session() as session:
                session.add(row)
                session.flush()
                session.add(self._transition_row(row.id, 1, entry))
                if secret is not None:
                    session.add(
                        SecretRow(onboarding_id=row.id, ciphertext=secret, created_at=entry.at)
                    )
                session.commit()
                return _normalise(row), True
        except IntegrityError:
            return self.get_by_key(row.key), False
        except SQLAlchemyError as exc:
            raise StoreError(f"could not store onboarding {row.key!r}: {exc}") from exc

    def commit(
        self,
        onboarding_id: str,
        expected_version: int,
        changes: dict[str, Any],
        *,
        entry: AuditEntry | None = None,
        attempts: Sequence[AttemptRecord] = (),
        delete_secret: bool = False,
    ) -> OnboardingRow:
        """Apply one step outcome atomically, if nobody wrote the checkpoint since we read it.

        Raises:
            ConcurrencyError: the version moved on (another worker, or an operator, wrote first).
        """
        try:
            with self._session() as session:
                values = {**changes, "version": expected_version + 1}
                result = session.execute(
                    update(OnboardingRow)
                    .where(col(OnboardingRow.id) == onboarding_id)
                    .where(col(OnboardingRow.version) == expected_version)
                    .values(**values)
                )
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    session.rollback()
                    raise ConcurrencyError(
                        f"onboarding {onboarding_id} changed since version {expected_version} "
                        "was read; the step's outcome was discarded and will be recomputed"
                    )
                if entry is not None:
                    seq = session.exec(
                        select(func.coalesce(func.max(TransitionRow.seq), 0)).where(
                            TransitionRow.onboarding_id == onboarding_id
                        )
                    ).one()
                    session.add(self._transition_row(onboarding_id, int(seq) + 1, entry))
                for attempt in attempts:
                    session.add(StepAttemptRow(onboarding_id=onboarding_id, **_fields(attempt)))
                if delete_secret:
                    secret = session.get(SecretRow, onboarding_id)
                    if secret is not None:
                        session.delete(secret)
                session.commit()
        except SQLAlchemyError as exc:
            raise StoreError(f"could not commit onboarding {onboarding_id}: {exc}") from exc
        return self.get(onboarding_id)

    def record_attempts(self, onboarding_id: str, attempts: Iterable[AttemptRecord]) -> None:
        """Append attempts without touching the checkpoint (used when a commit was refused)."""
        with self._session() as session:
            for attempt in attempts:
                session.add(StepAttemptRow(onboarding_id=onboarding_id, **_fields(attempt)))
            session.commit()

    @staticmethod
    def _transition_row(onboarding_id: str, seq: int, entry: AuditEntry) -> TransitionRow:
        return TransitionRow(onboarding_id=onboarding_id, seq=seq, **_fields(entry))

    # ----------------------------------------------------------------- leases
    def claim_due(
        self, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[OnboardingRow]:
        """Lease up to ``limit`` onboardings that are due and not leased by a live worker."""
        if limit <= 0:
            return []
        with self._session() as session:
            query = (
                select(OnboardingRow.id, OnboardingRow.version)
                .where(col(OnboardingRow.state).in_(sorted(ACTIVE_STATES)))
                .where(col(OnboardingRow.next_attempt_at) <= now)
                .where(
                    or_(
                        col(OnboardingRow.lease_expires_at).is_(None),
                        col(OnboardingRow.lease_expires_at) < now,
                    )
                )
                .order_by(col(OnboardingRow.next_attempt_at))
                .limit(limit)
            )
            if self._postgres:
                query = query.with_for_update(skip_locked=True)
            candidates = session.exec(query).all()
            claimed: list[str] = []
            until = now + timedelta(seconds=lease_seconds)
            for onboarding_id, version in candidates:
                result = session.execute(
                    update(OnboardingRow)
                    .where(col(OnboardingRow.id) == onboarding_id)
                    .where(col(OnboardingRow.version) == version)
                    .values(lease_owner=owner, lease_expires_at=until, version=version + 1)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(onboarding_id)
            session.commit()
        return [self.get(i) for i in claimed]

    def extend_leases(self, ids: Iterable[str], owner: str, until: datetime) -> None:
        """Heartbeat: push the lease expiry of onboardings this worker still holds."""
        ids = list(ids)
        if not ids:
            return
        with self._session() as session:
            session.execute(
                update(OnboardingRow)
                .where(col(OnboardingRow.id).in_(ids))
                .where(col(OnboardingRow.lease_owner) == owner)
                .values(lease_expires_at=until)
            )
            session.commit()

    def release(self, onboarding_id: str, owner: str) -> None:
        """Give the lease back (no version change: the lease is not part of the checkpoint)."""
        with self._session() as session:
            session.execute(
                update(OnboardingRow)
                .where(col(OnboardingRow.id) == onboarding_id)
                .where(col(OnboardingRow.lease_owner) == owner)
                .values(lease_owner=None, lease_expires_at=None)
            )
            session.commit()

    def nudge(self, onboarding_id: str, now: datetime) -> bool:
        """Make an onboarding waiting for completion due now; False when it is not waiting."""
        with self._session() as session:
            result = session.execute(
                update(OnboardingRow)
                .where(col(OnboardingRow.id) == onboarding_id)
                .where(col(OnboardingRow.state) == "complete")
                .values(next_attempt_at=now)
            )
            session.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ reads
    def get(self, onboarding_id: str) -> OnboardingRow:
        """The checkpoint of one onboarding.

        Raises:
            OnboardingNotFoundError: no onboarding has that id.
        """
        with self._session() as session:
            row = session.get(OnboardingRow, onboarding_id)
        if row is None:
            raise OnboardingNotFoundError(f"no onboarding with id {onboarding_id!r}")
        return _normalise(row)

    def has_onboarding(self, onboarding_id: str) -> bool:
        """Whether an onboarding with this id exists (reads the key only, not the row)."""
        with self._session() as session:
            found = session.exec(
                select(OnboardingRow.id).where(col(OnboardingRow.id) == onboarding_id)
            ).first()
        return found is not None

    def get_by_key(self, key: str) -> OnboardingRow:
        """The onboarding started with ``key``."""
        with self._session() as session:
            row = session.exec(select(OnboardingRow).where(OnboardingRow.key == key)).first()
        if row is None:
            raise OnboardingNotFoundError(f"no onboarding with key {key!r}")
        return _normalise(row)

    def find(self, id_or_key: str) -> OnboardingRow:
        """By id, else by key (what operators type)."""
        try:
            return self.get(id_or_key)
        except OnboardingNotFoundError:
            try:
                return self.get_by_key(id_or_key)
            except OnboardingNotFoundError:
                raise OnboardingNotFoundError(
                    f"no onboarding with id or key {id_or_key!r}; 'onboarding list' shows them"
                ) from None

    def list_onboardings(
        self, states: Iterable[str] | None = None, limit: int | None = None
    ) -> list[OnboardingRow]:
        """Onboardings, oldest first, optionally only in ``states``."""
        query = select(OnboardingRow).order_by(col(OnboardingRow.created_at), col(OnboardingRow.id))
        if states is not None:
            query = query.where(col(OnboardingRow.state).in_(list(states)))
        if limit is not None:
            query = query.limit(limit)
        with self._session() as session:
            return [_normalise(r) for r in session.exec(query).all()]

    def count_active(self) -> int:
        """How many onboardings a worker still has to move."""
        with self._session() as session:
            return int(
                session.exec(
                    select(func.count())
                    .select_from(OnboardingRow)
                    .where(col(OnboardingRow.state).in_(sorted(ACTIVE_STATES)))
                ).one()
            )

    def next_due(self) -> datetime | None:
        """When the next active onboarding becomes due."""
        with self._session() as session:
            moment = session.exec(
                select(func.min(OnboardingRow.next_attempt_at)).where(
                    col(OnboardingRow.state).in_(sorted(ACTIVE_STATES))
                )
            ).one()
        return aware(moment)

    def history(self, onboarding_id: str) -> list[TransitionRow]:
        """The audit log of one onboarding, in order."""
        with self._session() as session:
            rows = session.exec(
                select(TransitionRow)
                .where(TransitionRow.onboarding_id == onboarding_id)
                .order_by(col(TransitionRow.seq))
            ).all()
        for row in rows:
            row.at = aware(row.at)  # type: ignore[assignment]
        return list(rows)

    def attempts(self, onboarding_id: str) -> list[StepAttemptRow]:
        """Every API attempt of one onboarding, in order."""
        with self._session() as session:
            rows = session.exec(
                select(StepAttemptRow)
                .where(StepAttemptRow.onboarding_id == onboarding_id)
                .order_by(col(StepAttemptRow.id))
            ).all()
        return list(rows)

    def callbacks(self, onboarding_id: str) -> list[CallbackEventRow]:
        """Accepted completion callbacks of one onboarding."""
        with self._session() as session:
            return list(
                session.exec(
                    select(CallbackEventRow)
                    .where(CallbackEventRow.onboarding_id == onboarding_id)
                    .order_by(col(CallbackEventRow.id))
                ).all()
            )

    # ---------------------------------------------------------------- secrets
    def read_secret(self, onboarding_id: str) -> bytes | None:
        """The encrypted secrets of one onboarding, if still held."""
        with self._session() as session:
            row = session.get(SecretRow, onboarding_id)
            return None if row is None else row.ciphertext

    # -------------------------------------------------------------- callbacks
    def record_callback(
        self,
        onboarding_id: str,
        webhook_id: str | None,
        status: str | None,
        payload: dict[str, Any] | None,
        now: datetime,
    ) -> bool:
        """Store an accepted callback and nudge its onboarding; False for a replayed webhook id."""
        try:
            with self._session() as session:
                session.add(
                    CallbackEventRow(
                        onboarding_id=onboarding_id, webhook_id=webhook_id, received_at=now,
                        status=status, payload=payload,
                    )
                )  # fmt: skip
                session.execute(
                    update(OnboardingRow)
                    .where(col(OnboardingRow.id) == onboarding_id)
                    .where(col(OnboardingRow.state) == "complete")
                    .values(next_attempt_at=now)
                )
                session.commit()
        except IntegrityError:
            return False
        return True


def _fields(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__slots__}
