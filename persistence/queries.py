"""Reads for operators and auditors: onboardings by id or key, lists, the audit log, attempts.

Finding an onboarding, its audit log and its attempts run the SQL the operator commands run
(:mod:`persistence.lookups`), decoded the same way (:func:`persistence.dbapi.decode`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final, TypeVar

from sqlalchemy import select, text
from sqlalchemy.engine import Connection, Engine

from persistence import lookups
from persistence.dbapi import decode
from persistence.models import CallbackEventRow
from persistence.rows import CHECKPOINT_COLUMNS, ONBOARDINGS, to_checkpoint, to_entry
from workflow.ports import AttemptRecord, AuditEntry, Checkpoint, OnboardingNotFoundError, as_utc

__all__ = ["Queries"]

T = TypeVar("T")
O = ONBOARDINGS  # noqa: E741
CALLBACKS = CallbackEventRow.__table__  # type: ignore[attr-defined]
_CHECKPOINT: Final = ", ".join(c.name for c in CHECKPOINT_COLUMNS)
_ATTEMPT_FIELDS: Final = tuple(AttemptRecord.__dataclass_fields__)


class Queries:
    """The read side of :class:`~persistence.store.SqlStore`."""

    engine: Engine

    def _run(self, what: str, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    def get(self, onboarding_id: str) -> Checkpoint:
        """The checkpoint of one onboarding.

        Raises:
            OnboardingNotFoundError: no onboarding has that id.
        """
        row = self._run(
            f"read onboarding {onboarding_id}",
            lambda c: c.execute(select(*CHECKPOINT_COLUMNS).where(O.c.id == onboarding_id)).first(),
        )
        if row is None:
            raise OnboardingNotFoundError(f"no onboarding with id {onboarding_id!r}")
        return to_checkpoint(row._mapping)

    def get_by_key(self, key: str) -> Checkpoint:
        """The onboarding started with ``key``."""
        row = self._run(
            "read an onboarding by key",
            lambda c: c.execute(select(*CHECKPOINT_COLUMNS).where(O.c.key == key)).first(),
        )
        if row is None:
            raise OnboardingNotFoundError(f"no onboarding with key {key!r}")
        return to_checkpoint(row._mapping)

    def _rows(self, what: str, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Rows of a :mod:`persistence.lookups` statement, decoded."""
        return self._run(
            what, lambda c: [decode(row._asdict()) for row in c.execute(text(sql), params)]
        )

    def find(self, id_or_key: str) -> Checkpoint:
        """By id, else by key (what operators type)."""
        return to_checkpoint(lookups.find(self._rows, id_or_key, _CHECKPOINT, ("id", "key")))

    def list_onboardings(
        self, states: Iterable[str] | None = None, limit: int | None = None
    ) -> list[Checkpoint]:
        """Onboardings, oldest first, optionally only in ``states``."""
        query = select(*CHECKPOINT_COLUMNS).order_by(O.c.created_at, O.c.id)
        if states is not None:
            query = query.where(O.c.state.in_(list(states)))
        if limit is not None:
            query = query.limit(limit)
        rows = self._run("list onboardings", lambda c: c.execute(query).all())
        return [to_checkpoint(r._mapping) for r in rows]

    def history(self, onboarding_id: str) -> list[AuditEntry]:
        """The audit log of one onboarding, in order."""
        return [to_entry(row) for row in lookups.history(self._rows, onboarding_id)]

    def attempts(self, onboarding_id: str) -> list[AttemptRecord]:
        """Every API attempt of one onboarding, in order."""
        return [
            AttemptRecord(**{name: row[name] for name in _ATTEMPT_FIELDS})
            for row in lookups.attempts(self._rows, onboarding_id)
        ]

    def callbacks(self, onboarding_id: str) -> list[dict[str, Any]]:
        """Accepted completion callbacks of one onboarding."""
        rows = self._run(
            "read callbacks",
            lambda c: c.execute(
                select(CALLBACKS)
                .where(CALLBACKS.c.onboarding_id == onboarding_id)
                .order_by(CALLBACKS.c.id)
            ).all(),
        )
        return [{**r._mapping, "received_at": as_utc(r.received_at)} for r in rows]
