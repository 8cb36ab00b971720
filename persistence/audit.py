"""Streaming the audit log for verification: every onboarding's head and rows, in id order.

One ``SELECT`` joins each checkpoint to its transitions (a left join, so an onboarding whose
log is empty still shows), ordered by onboarding id and ``seq``, and is read in chunks: a
server-side cursor on PostgreSQL (``yield_per``), ``fetchmany`` on SQLite. One statement reads
one snapshot, so a worker committing meanwhile cannot make a checkpoint and its log disagree.
Rows are grouped per onboarding as they arrive; memory holds one chunk and one onboarding's
log, however large the table.

Beside the logs: the append-only guards' state (:mod:`persistence.guards`), rows of the log,
the outbox and the attempts whose onboarding does not exist, one onboarding's outbox events as
candidate originals of its rows, and writing the anchors of heads written before anchoring.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final, TypeVar

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from persistence.outbox import OUTBOX
from persistence.rows import ATTEMPTS, ONBOARDINGS, TRANSITIONS
from workflow.ports import StoreError

if TYPE_CHECKING:
    from workflow.ports import AuditHead, AuditRow, Orphan

T = TypeVar("T")

# workflow.ports (and the state machine it replays on) loads on the first read, so
# opening a store for anything else does not pay for it.

__all__ = ["CHUNK", "AuditReads", "HeadAnchor"]

O = ONBOARDINGS  # noqa: E741
TR = TRANSITIONS

#: Rows fetched per round trip.
CHUNK: Final = 5000


@cache
def _logs() -> tuple[Any, int]:
    """The query, and where a row's transition columns start."""
    from workflow.ports import AuditHead, AuditRow

    head = [O.c[name] for name in AuditHead._fields]
    row = [TR.c[name] for name in AuditRow._fields]
    query = (
        select(*head, *row)
        .select_from(O.outerjoin(TR, TR.c.onboarding_id == O.c.id))
        .order_by(O.c.id, TR.c.seq)
    )
    return query, len(head)


#: An anchor to write: (onboarding id, the version it was computed at, seq, head, anchor).
HeadAnchor = tuple[str, int, int, str, str]


def _orphans(table: Any, seq: bool) -> Any:
    """Rows of ``table`` whose onboarding does not exist, counted per onboarding id."""
    columns = [table.c.onboarding_id, func.count()]
    if seq:
        columns += [func.min(table.c.seq), func.max(table.c.seq)]
    grouped = select(*columns).group_by(table.c.onboarding_id).subquery()
    exists = select(O.c.id).where(O.c.id == grouped.c.onboarding_id).exists()
    return select(grouped).where(~exists)


class AuditReads:
    """The audit side of :class:`~persistence.store.SqlStore`."""

    engine: Engine

    def _audit_read(self, what: str, work: Callable[[Connection], T]) -> T:
        try:
            with self.engine.begin() as connection:
                return work(connection)
        except SQLAlchemyError as exc:
            from persistence.commits import describe

            raise StoreError(f"could not {what}: {describe(exc)}") from exc

    def audit_guards(self) -> list[tuple[str, str]]:
        """Each append-only guard that is missing, disabled or altered: (name, sentence)."""
        from persistence.guards import guard_problems

        found = self._audit_read("read the audit log's triggers", guard_problems)
        return [(problem.name, problem.message) for problem in found]

    def audit_orphans(self) -> Iterator[Orphan]:
        """Rows of the log, the outbox or the attempts whose onboarding does not exist, per
        onboarding id (each table is read through its onboarding_id index, once)."""
        from workflow.ports import Orphan

        def work(connection: Connection) -> list[Orphan]:
            found: dict[str, list[Any]] = {}
            for oid, count, first, last in connection.execute(_orphans(TR, seq=True)):
                found[oid] = [count, first, last, 0, 0]
            for number, table in ((3, OUTBOX), (4, ATTEMPTS)):
                for oid, count in connection.execute(_orphans(table, seq=False)):
                    found.setdefault(oid, [0, None, None, 0, 0])[number] = count
            return [Orphan(oid, *counts) for oid, counts in sorted(found.items())]

        return iter(self._audit_read("look for orphan rows", work))

    def outbox_originals(self, onboarding_id: str) -> dict[int, AuditRow]:
        """The outbox events of one onboarding, by seq, as the audit rows they were written
        with (their digest left empty)."""
        from workflow.ports import AuditRow

        names = [name for name in AuditRow._fields if name != "digest"]
        query = select(*(OUTBOX.c[name] for name in names)).where(
            OUTBOX.c.onboarding_id == onboarding_id
        )
        rows = self._audit_read(
            "read outbox events", lambda connection: connection.execute(query).all()
        )
        return {row[0]: AuditRow._make((*row, "")) for row in rows}

    def write_anchors(self, anchors: Iterable[HeadAnchor]) -> int:
        """Set the anchors of heads that have none, each only if its checkpoint is still at the
        version (and head) it was computed from; returns how many were written. The version
        moves on, so a writer holding the checkpoint from before chains to the new anchor."""
        values = [
            {"w_id": oid, "w_version": version, "w_seq": seq, "w_head": head, "v_anchor": anchor}
            for oid, version, seq, head, anchor in anchors
        ]
        if not values:
            return 0
        statement = (
            update(O)
            .where(
                O.c.id == bindparam("w_id"), O.c.version == bindparam("w_version"),
                O.c.audit_seq == bindparam("w_seq"), O.c.audit_head == bindparam("w_head"),
                O.c.audit_anchor == "",
            )
            .values(audit_anchor=bindparam("v_anchor"), version=O.c.version + 1)
        )  # fmt: skip

        def work(connection: Connection) -> int:
            return sum(connection.execute(statement, [row]).rowcount for row in values)

        return self._audit_read("write audit anchors", work)

    def count_unanchored(self, *, runnable: bool = False) -> int:
        """How many onboardings have audit rows but no anchor (``runnable``: of those a worker
        would run)."""
        query = select(func.count()).where(O.c.audit_anchor == "", O.c.audit_seq > 0)
        if runnable:
            query = query.where(O.c.next_attempt_at.is_not(None))
        return int(
            self._audit_read("count unanchored audit logs", lambda c: c.execute(query).scalar_one())
        )

    def audit_logs(
        self, onboarding_id: str | None = None, *, unanchored: bool = False
    ) -> Iterator[tuple[AuditHead, Sequence[AuditRow]]]:
        """Each onboarding's head and rows in ``seq`` order, onboardings in id order.

        Args:
            onboarding_id: only this onboarding.
            unanchored: only onboardings whose head has no anchor.

        Raises:
            StoreError: the database failed while reading (what was yielded stays valid).
        """
        from workflow.ports import AuditHead, AuditRow

        query, split = _logs()
        if onboarding_id is not None:
            query = query.where(O.c.id == onboarding_id)
        if unanchored:
            query = query.where(O.c.audit_anchor == "")
        try:
            with self.engine.connect() as connection:
                result = connection.execution_options(yield_per=CHUNK).execute(query)
                # A Row slices into a plain tuple; NamedTuple._make keeps it that cheap.
                make_head, make_row = AuditHead._make, AuditRow._make
                for _, group in groupby(result, key=itemgetter(0)):
                    found = list(group)  # one onboarding's rows
                    head = make_head(found[0][:split])
                    if found[0][split] is None:  # the left join found no row
                        yield head, []
                    else:
                        yield head, [make_row(row[split:]) for row in found]
        except SQLAlchemyError as exc:
            from persistence.commits import describe

            raise StoreError(f"could not read the audit log: {describe(exc)}") from exc
