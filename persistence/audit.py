"""Streaming the audit log for verification: every onboarding's head and rows, in id order.

One ``SELECT`` joins each checkpoint to its transitions (a left join, so an onboarding whose
log is empty still shows), ordered by onboarding id and ``seq``, and is read in chunks: a
server-side cursor on PostgreSQL (``yield_per``), ``fetchmany`` on SQLite. One statement reads
one snapshot, so a worker committing meanwhile cannot make a checkpoint and its log disagree.
Rows are grouped per onboarding as they arrive; memory holds one chunk and one onboarding's
log, however large the table.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cache
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from persistence.rows import ONBOARDINGS, TRANSITIONS
from workflow.errors import StoreError

if TYPE_CHECKING:
    from workflow.audit_verify import AuditHead, AuditRow

# workflow.audit_verify (and the state machine it replays on) loads on the first read, so
# opening a store for anything else does not pay for it.

__all__ = ["CHUNK", "AuditReads"]

O = ONBOARDINGS  # noqa: E741
TR = TRANSITIONS

#: Rows fetched per round trip.
CHUNK: Final = 5000


@cache
def _logs() -> tuple[Any, int]:
    """The query, and where a row's transition columns start."""
    from workflow.audit_verify import AuditHead, AuditRow

    head = [O.c[name] for name in AuditHead._fields]
    row = [TR.c[name] for name in AuditRow._fields]
    query = (
        select(*head, *row)
        .select_from(O.outerjoin(TR, TR.c.onboarding_id == O.c.id))
        .order_by(O.c.id, TR.c.seq)
    )
    return query, len(head)


class AuditReads:
    """The audit side of :class:`~persistence.store.SqlStore`."""

    engine: Engine

    def audit_logs(
        self, onboarding_id: str | None = None
    ) -> Iterator[tuple[AuditHead, Sequence[AuditRow]]]:
        """Each onboarding's head and rows in ``seq`` order, onboardings in id order.

        Raises:
            StoreError: the database failed while reading (what was yielded stays valid).
        """
        from workflow.audit_verify import AuditHead, AuditRow

        query, split = _logs()
        if onboarding_id is not None:
            query = query.where(O.c.id == onboarding_id)
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
            from persistence.store import _describe

            raise StoreError(f"could not read the audit log: {_describe(exc)}") from exc
