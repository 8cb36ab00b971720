"""Bulk selection: a :class:`~workflow.ports.Selector` as one SQL query, read in pages.

The filters run in the database: a selection is one query, whatever it matches, its rows
fetched a page at a time (``yield_per``; a server-side cursor on PostgreSQL), so ten thousand
matches cost one scan and little memory, never a row-by-row look in Python. One query rather
than keyset pages: each page of a keyset walk would scan and sort again unless an index on
``(created_at, id)`` existed. The acting side reads back chosen ids by primary key. State
names are compared as the caller gives them: nothing here knows the flow.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, exists, false, func, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from persistence.models import BatchRow
from persistence.rows import CHECKPOINT_COLUMNS, ONBOARDINGS, TRANSITIONS, to_checkpoint
from workflow.ports import BatchRecord, Checkpoint, Selected, Selector, StoreError, as_utc

__all__ = ["Selection"]

T = TypeVar("T")
BATCHES = BatchRow.__table__  # type: ignore[attr-defined]
O = ONBOARDINGS  # noqa: E741
_CODE = O.c.last_error["code"].as_string()
_PREVIEW_COLUMNS = (
    O.c.id, O.c.key, O.c.state, O.c.paused_from, _CODE.label("code"), O.c.created_at,
    O.c.updated_at,
)  # fmt: skip


def _applicable(pairs: frozenset[tuple[str, str | None]]) -> ColumnElement[bool]:
    """``(state, paused_from)`` in ``pairs``, NULL-aware, grouped to keep the SQL short."""
    if not pairs:
        return false()
    plain = sorted(state for state, paused in pairs if paused is None)
    paused: dict[str, list[str]] = {}
    for state, source in pairs:
        if source is not None:
            paused.setdefault(state, []).append(source)
    terms: list[ColumnElement[bool]] = []
    if plain:
        terms.append(and_(O.c.state.in_(plain), O.c.paused_from.is_(None)))
    terms += [
        and_(O.c.state == state, O.c.paused_from.in_(sorted(sources)))
        for state, sources in sorted(paused.items())
    ]
    return or_(*terms)


def _key_prefix(prefix: str, postgres: bool) -> ColumnElement[bool]:
    """Keys starting with ``prefix``, case-sensitive and literal, through an index.

    SQLite compares text bytewise (BINARY), so the prefix is a range of the key's unique index;
    U+10FFFF's UTF-8 encoding sorts after every character's. PostgreSQL's comparisons follow
    the database's collation, where such a range is not exact: ``LIKE 'prefix%'`` (escaped)
    walks the ``text_pattern_ops`` index of migration 0011 instead.
    """
    if not postgres:
        return and_(O.c.key >= prefix, O.c.key < prefix + "\U0010ffff")
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    # Backslash is LIKE's default escape; an ESCAPE clause would hide the pattern from the index.
    return O.c.key.like(escaped + "%")


def conditions(selector: Selector, *, postgres: bool = False) -> list[ColumnElement[bool]]:
    """The WHERE terms of ``selector`` (all must hold) for SQLite, or for PostgreSQL."""
    terms: list[ColumnElement[bool]] = []
    if selector.states:
        terms.append(O.c.state.in_(sorted(selector.states)))
    if selector.paused_from:
        terms.append(O.c.paused_from.in_(sorted(selector.paused_from)))
    if selector.codes:
        terms.append(_CODE.in_(sorted(selector.codes)))
    if selector.updated_before is not None:
        terms.append(O.c.updated_at < selector.updated_before)
    if selector.key_prefix:
        terms.append(_key_prefix(selector.key_prefix, postgres))
    if selector.worker:
        terms.append(O.c.lease_owner == selector.worker)
    if selector.actor:
        newest_by_actor = exists().where(
            TRANSITIONS.c.onboarding_id == O.c.id,
            TRANSITIONS.c.seq == O.c.audit_seq,
            TRANSITIONS.c.actor == selector.actor,
        )
        terms.append(newest_by_actor)
    if selector.batch_id:
        # Through ix_transitions_batch: a batch's rows, not every onboarding's log.
        in_batch = select(TRANSITIONS.c.onboarding_id).where(
            TRANSITIONS.c.batch_id == selector.batch_id
        )
        terms.append(O.c.id.in_(in_batch))
    if selector.created_since is not None:
        terms.append(O.c.created_at >= selector.created_since)
    if selector.created_until is not None:
        terms.append(O.c.created_at < selector.created_until)
    if selector.ids:
        terms.append(O.c.id.in_(sorted(selector.ids)))
    if selector.applicable is not None:
        terms.append(_applicable(selector.applicable))
    return terms


def _to_selected(row: Any) -> Selected:
    return Selected(
        id=row.id, key=row.key, state=row.state, paused_from=row.paused_from, code=row.code,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )  # fmt: skip


class Selection:
    """The bulk-selection side of :class:`~persistence.store.SqlStore`."""

    engine: Engine

    @property
    def _postgres_selection(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def _run(self, what: str, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    def iter_selected(
        self, selector: Selector, *, page_size: int = 1000
    ) -> Generator[Selected, None, None]:
        """Every onboarding matching ``selector``, oldest first, fetched ``page_size`` rows at a
        time from one query (a server-side cursor on PostgreSQL).

        Raises:
            StoreError: the database failed.
        """
        query = (
            select(*_PREVIEW_COLUMNS)
            .where(*conditions(selector, postgres=self._postgres_selection))
            .order_by(O.c.created_at, O.c.id)
        )
        try:
            with self.engine.connect() as connection:
                result = connection.execution_options(
                    stream_results=True, yield_per=page_size
                ).execute(query)
                for page in result.partitions():
                    for row in page:
                        yield _to_selected(row)
        except SQLAlchemyError as exc:
            original = getattr(exc, "orig", None) or exc
            reason = (str(original).strip().splitlines() or ["database error"])[0]
            raise StoreError(
                f"could not select onboardings: {type(original).__name__}: {reason}"
            ) from exc

    def page_selected(
        self, selector: Selector, *, after: tuple[datetime, str] | None = None, limit: int = 50
    ) -> list[Selected]:
        """One page of the onboardings ``selector`` matches, oldest first, after a position
        (``created_at``, ``id``): the rows a bulk action on the same selector would act on.

        Raises:
            StoreError: the database failed.
        """
        query = select(*_PREVIEW_COLUMNS).where(
            *conditions(selector, postgres=self._postgres_selection)
        )
        if after is not None:
            at, onboarding_id = after
            query = query.where(
                or_(O.c.created_at > at, and_(O.c.created_at == at, O.c.id > onboarding_id))
            )
        query = query.order_by(O.c.created_at, O.c.id).limit(limit)
        rows = self._run("list selected onboardings", lambda c: c.execute(query).all())
        return [_to_selected(row) for row in rows]

    def count_selected(self, selector: Selector) -> int:
        """How many onboardings match ``selector`` (one ``COUNT``, no row leaves the database).

        Raises:
            StoreError: the database failed.
        """
        query = (
            select(func.count())
            .select_from(O)
            .where(*conditions(selector, postgres=self._postgres_selection))
        )
        return int(self._run("count selected onboardings", lambda c: c.execute(query).scalar_one()))

    def selected_checkpoints(self, selector: Selector, ids: Sequence[str]) -> list[Checkpoint]:
        """The checkpoints of those ``ids`` that still match ``selector``.

        Raises:
            StoreError: the database failed.
        """
        if not ids:
            return []
        query = select(*CHECKPOINT_COLUMNS).where(
            *conditions(selector, postgres=self._postgres_selection), O.c.id.in_(list(ids))
        )
        rows = self._run("read selected onboardings", lambda c: c.execute(query).all())
        return [to_checkpoint(r._mapping) for r in rows]

    def record_batch(self, batch: BatchRecord) -> None:
        """Store ``batch`` (a bulk action), or its counts and end when it is stored already.

        Raises:
            StoreError: the database failed.
        """
        table = BATCHES
        values = {
            "id": batch.id, "actor": batch.actor, "reason": batch.reason,
            "action": batch.action, "selection": batch.selection, "matched": batch.matched,
            "changed": batch.changed, "skipped": batch.skipped, "started_at": batch.started_at,
            "finished_at": batch.finished_at,
        }  # fmt: skip

        def work(connection: Connection) -> None:
            done = connection.execute(
                table.update()
                .where(table.c.id == batch.id)
                .values(changed=batch.changed, skipped=batch.skipped, finished_at=batch.finished_at)
            )
            if done.rowcount == 0:
                connection.execute(table.insert().values(**values))

        self._run("record a batch", work)
