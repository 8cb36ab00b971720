"""Reads for operators and auditors: onboardings by id or key, lists, the audit log, attempts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from persistence.models import CallbackEventRow
from persistence.rows import (
    ATTEMPTS,
    CHECKPOINT_COLUMNS,
    ONBOARDINGS,
    TRANSITIONS,
    aware,
    to_checkpoint,
    to_entry,
)
from workflow.ports import AttemptRecord, AuditEntry, Checkpoint, OnboardingNotFoundError

__all__ = ["Queries"]

T = TypeVar("T")
O = ONBOARDINGS  # noqa: E741
CALLBACKS = CallbackEventRow.__table__  # type: ignore[attr-defined]


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

    def find(self, id_or_key: str) -> Checkpoint:
        """By id, else by key (what operators type)."""
        for lookup in (self.get, self.get_by_key):
            try:
                return lookup(id_or_key)
            except OnboardingNotFoundError:
                continue
        raise OnboardingNotFoundError(
            f"no onboarding with id or key {id_or_key!r}; 'onboarding list' shows them"
        )

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
        rows = self._run(
            "read the audit log",
            lambda c: c.execute(
                select(TRANSITIONS)
                .where(TRANSITIONS.c.onboarding_id == onboarding_id)
                .order_by(TRANSITIONS.c.seq)
            ).all(),
        )
        return [to_entry(r._mapping) for r in rows]

    def attempts(self, onboarding_id: str) -> list[AttemptRecord]:
        """Every API attempt of one onboarding, in order."""
        rows = self._run(
            "read attempts",
            lambda c: c.execute(
                select(ATTEMPTS)
                .where(ATTEMPTS.c.onboarding_id == onboarding_id)
                .order_by(ATTEMPTS.c.id)
            ).all(),
        )
        names = AttemptRecord.__dataclass_fields__
        found = []
        for row in rows:
            values = {k: v for k, v in row._mapping.items() if k in names}
            values["at"] = aware(values["at"])
            found.append(AttemptRecord(**values))
        return found

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
        return [{**r._mapping, "received_at": aware(r.received_at)} for r in rows]
