"""Who holds a resource at Sent, and what each create attempt sent: the reads that prove (or
fail to prove) that a profile or campaign is an onboarding's own.

An onboarding holds an id when its checkpoint's ``profile_id`` is that id, or when one of its
attempts names it (``step_attempts.resource_id``: the id a create's reply answered, kept even
for commits that were refused, or the one a lookup found proven its own). Both are read through
an index (``ix_onboardings_profile_id``, ``ix_step_attempts_resource_id``): step record outputs
also name adopted ids, but reading them means parsing every record's JSON (0.6 to 1.3 s at
100,000 onboardings on SQLite), and every adoption is on an attempt too. These reads run only
when a create's outcome is in doubt, never per step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy import select, union
from sqlalchemy.engine import Connection

from persistence.rows import ATTEMPTS, ONBOARDINGS
from workflow.ports import AttemptRecord, Holder, as_utc

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

    def holders(self, resource_ids: Iterable[str]) -> dict[str, list[Holder]]:
        """Which onboardings hold each id (their checkpoint's profile id, or an attempt names
        it); ids nobody holds are absent."""
        wanted = sorted(set(resource_ids))
        if not wanted:
            return {}
        held = union(
            select(O.c.profile_id.label("rid"), O.c.id.label("oid")).where(
                O.c.profile_id.in_(wanted)
            ),
            select(ATTEMPTS.c.resource_id, ATTEMPTS.c.onboarding_id).where(
                ATTEMPTS.c.resource_id.in_(wanted)
            ),
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
    values["at"] = as_utc(values["at"])
    return AttemptRecord(**values)
