"""Who holds a resource at Sent, and what each create attempt sent: the reads that prove (or
fail to prove) that a profile or campaign is an onboarding's own.

An onboarding holds an id when its checkpoint's ``profile_id`` is that id, when Sent answered
it to one of its attempts (``step_attempts.resource_id``, kept even for commits that were
refused), or when one of its step records' outputs names it under the caller's key. The step
records are read with the database's JSON operators (``json_extract`` on SQLite, ``->>`` on
PostgreSQL); these reads run only when a create's outcome is in doubt, never per step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy import select, union
from sqlalchemy.engine import Connection

from persistence.rows import ATTEMPTS, ONBOARDINGS, RECORDS, aware
from workflow.ports import AttemptRecord, Holder

__all__ = ["OwnershipQueries"]

T = TypeVar("T")
O = ONBOARDINGS  # noqa: E741


class OwnershipQueries:
    """The ownership reads of :class:`~persistence.store.SqlStore`."""

    def _run(self, what: str, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    def item_attempts(self, onboarding_id: str, step: str, item: str) -> list[AttemptRecord]:
        """Every attempt of one item of one step, in every generation, oldest first."""
        rows = self._run(
            "read the attempts of an item",
            lambda c: c.execute(
                select(ATTEMPTS)
                .where(
                    ATTEMPTS.c.onboarding_id == onboarding_id,
                    ATTEMPTS.c.step == step,
                    ATTEMPTS.c.item == item,
                )
                .order_by(ATTEMPTS.c.id)
            ).all(),
        )
        return [_attempt(row._mapping) for row in rows]

    def holders(self, resource_ids: Iterable[str], output_key: str) -> dict[str, list[Holder]]:
        """Which onboardings hold each id (checkpoint, attempts, step record outputs under
        ``output_key``); ids nobody holds are absent."""
        wanted = sorted(set(resource_ids))
        if not wanted:
            return {}
        named = RECORDS.c.output[output_key].as_string()
        held = union(
            select(O.c.profile_id.label("rid"), O.c.id.label("oid")).where(
                O.c.profile_id.in_(wanted)
            ),
            select(ATTEMPTS.c.resource_id, ATTEMPTS.c.onboarding_id).where(
                ATTEMPTS.c.resource_id.in_(wanted)
            ),
            select(named, RECORDS.c.onboarding_id).where(named.in_(wanted)),
        ).subquery()
        query = (
            select(held.c.rid, O.c.id, O.c.key)
            .join(O, O.c.id == held.c.oid)
            .order_by(held.c.rid, O.c.created_at, O.c.id)
        )
        rows = self._run("find who holds resources", lambda c: c.execute(query).all())
        found: dict[str, list[Holder]] = {}
        for rid, onboarding_id, key in rows:
            found.setdefault(str(rid), []).append(Holder(onboarding_id, key))
        return found


def _attempt(row: Any) -> AttemptRecord:
    names = AttemptRecord.__dataclass_fields__
    values = {k: v for k, v in row.items() if k in names}
    values["at"] = aware(values["at"])
    return AttemptRecord(**values)
