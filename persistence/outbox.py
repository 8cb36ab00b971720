"""The transition outbox: every transition published in its own transaction, read in order.

Writing: :func:`publish` adds one ``outbox`` row per audit row, in the transaction that commits
the transition (``SqlStore`` calls it beside the audit insert), so an event exists exactly when
its transition does.

Reading in order despite out-of-order commits. PostgreSQL hands out ``id`` values when a row is
inserted, not when its transaction commits: a reader can see id 11 while id 10 is still
uncommitted, and a cursor that moved past 11 would skip 10 for good. Three ways around it were
weighed:

* a settle time (read only rows older than a few seconds) is a guess: a writer stalled between
  insert and commit (a GC pause, a slow disk) longer than the guess still loses events;
* per-onboarding ``seq`` tracking keeps a position per onboarding and subscriber (100,000 rows
  per subscriber) and still cannot say when an onboarding's next event is late rather than absent;
* ordering by the writing transaction's id is exact. Each row records ``pg_current_xact_id()``
  (``tx_id``); a reader takes only rows whose ``tx_id`` is below the ``xmin`` of its own
  snapshot (``pg_snapshot_xmin(pg_current_snapshot())``): every transaction below ``xmin`` has
  finished, and no new transaction can get an id below it, so the set of such rows never grows
  behind the cursor. Rows are read in ``(tx_id, id)`` order and the cursor is that pair.

The last one is used. One onboarding's transitions keep their order: a transition's transaction
gets its id at its first write, after it read the checkpoint the previous transition committed.
The price: a long-running writing transaction anywhere in the database holds delivery back until
it ends (nothing is lost). SQLite has one writer at a time, which holds the write lock from its
first write to its commit, so ids are committed in order there; ``tx_id`` is 0 and the same
``(tx_id, id)`` order applies.

Cursors (``outbox_cursors``, one row per subscriber name) only move forward, and only when the
subscriber says its handler succeeded: delivery is at least once, and handlers are idempotent by
event id. ``id`` values are never reused (``AUTOINCREMENT`` on SQLite, a sequence on
PostgreSQL), so pruning cannot hand an old position out again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Final, TypeVar

from sqlalchemy import (
    BigInteger,
    Table,
    Text,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from persistence.models import OutboxCursorRow, OutboxRow
from persistence.rows import ONBOARDINGS
from workflow.ports import AuditEntry, Event, EventPosition, SubscriberPosition, as_utc

__all__ = [
    "OUTBOX",
    "OUTBOX_INSERT_KEYS",
    "OutboxQueries",
    "outbox_insert",
    "outbox_values",
    "publish",
]

T = TypeVar("T")
OUTBOX: Final[Table] = OutboxRow.__table__  # type: ignore[attr-defined]
CURSORS: Final[Table] = OutboxCursorRow.__table__  # type: ignore[attr-defined]
#: The writing transaction's id; xid8 is 64 bits and never wraps around.
_PG_TX_ID: Final = cast(cast(func.pg_current_xact_id(), Text), BigInteger)
#: The oldest transaction still running when the reading statement's snapshot was taken.
_PG_HORIZON: Final = cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)
_INSERT_PG: Final = insert(OUTBOX).values(tx_id=_PG_TX_ID)
_INSERT_SQLITE: Final = insert(OUTBOX).values(tx_id=0)


def _past(tx_id: int, event_pk: int) -> Any:
    """Rows after the position ``(tx_id, event_pk)`` in delivery order."""
    return tuple_(OUTBOX.c.tx_id, OUTBOX.c.id) > tuple_(literal(tx_id), literal(event_pk))


#: The columns :func:`outbox_values` fills.
OUTBOX_INSERT_KEYS: Final = (
    "onboarding_id", "key", "profile_id", "seq", "trigger", "from_state", "to_state", "actor",
    "reason", "at", "batch_id", "request_id", "details",
)  # fmt: skip


def outbox_insert(postgres: bool) -> Any:
    """The statement adding events (the writing transaction's id on PostgreSQL)."""
    return _INSERT_PG if postgres else _INSERT_SQLITE


def outbox_values(onboarding_id: str, key: str, entry: AuditEntry) -> dict[str, Any]:
    """The ``outbox`` row of a transition's event."""
    return {
        "onboarding_id": onboarding_id,
        "key": key,
        "profile_id": entry.profile_id,
        "seq": entry.seq,
        "trigger": entry.trigger,
        "from_state": entry.from_state,
        "to_state": entry.to_state,
        "actor": entry.actor,
        "reason": entry.reason,
        "at": entry.at,
        "batch_id": entry.batch_id,
        "request_id": entry.request_id,
        "details": dict(entry.details) if entry.details is not None else None,
    }


def publish(
    connection: Connection,
    postgres: bool,
    events: Iterable[tuple[str, str | None, AuditEntry]],
) -> None:
    """Add the events of transitions being committed on ``connection``.

    Args:
        connection: the transaction that writes the transitions.
        postgres: whether it is PostgreSQL (rows then carry the transaction id).
        events: ``(onboarding id, key, audit entry)``; a key of ``None`` is read from the
            onboarding's row in the same transaction.
    """
    rows = []
    for onboarding_id, key, entry in events:
        if key is None:
            key = connection.execute(
                select(ONBOARDINGS.c.key).where(ONBOARDINGS.c.id == onboarding_id)
            ).scalar_one()
        rows.append(outbox_values(onboarding_id, key, entry))
    if rows:
        connection.execute(_INSERT_PG if postgres else _INSERT_SQLITE, rows)


def _event(row: Any) -> Event:
    return Event(
        onboarding_id=row.onboarding_id,
        key=row.key,
        profile_id=row.profile_id,
        seq=row.seq,
        trigger=row.trigger,
        from_state=row.from_state,
        to_state=row.to_state,
        actor=row.actor,
        reason=row.reason,
        at=as_utc(row.at),
        batch_id=row.batch_id,
        request_id=row.request_id,
        details=row.details,
        position=EventPosition(int(row.tx_id), int(row.id)),
    )


class OutboxQueries:
    """The outbox side of :class:`~persistence.store.SqlStore`: read, acknowledge, prune."""

    engine: Engine
    _postgres: bool

    def _run(self, what: str, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    def read_events(
        self, subscriber: str, limit: int, now: datetime, after: EventPosition | None = None
    ) -> list[Event]:
        """Up to ``limit`` events past the subscriber's position (or past ``after``), in order.

        A subscriber seen for the first time starts before the oldest event still kept.
        """

        def work(connection: Connection) -> list[Event]:
            start = after or self._cursor(connection, subscriber, now)
            query = (
                select(OUTBOX)
                .where(_past(start.tx_id, start.event_pk))
                .order_by(OUTBOX.c.tx_id, OUTBOX.c.id)
                .limit(limit)
            )
            if self._postgres:
                query = query.where(OUTBOX.c.tx_id < _PG_HORIZON)
            return [_event(row) for row in connection.execute(query)]

        try:
            return self._run(f"read events for subscriber {subscriber!r}", work)
        except IntegrityError:  # another process registered the same subscriber just now
            return self._run(f"read events for subscriber {subscriber!r}", work)

    def _cursor(self, connection: Connection, subscriber: str, now: datetime) -> EventPosition:
        row = connection.execute(
            select(CURSORS.c.tx_id, CURSORS.c.event_pk).where(CURSORS.c.subscriber == subscriber)
        ).first()
        if row is not None:
            return EventPosition(int(row.tx_id), int(row.event_pk))
        connection.execute(
            insert(CURSORS),
            {"subscriber": subscriber, "tx_id": 0, "event_pk": 0, "delivered": 0,
             "created_at": now, "updated_at": now},
        )  # fmt: skip
        return EventPosition(0, 0)

    def ack_events(
        self, subscriber: str, position: EventPosition, count: int, now: datetime
    ) -> None:
        """Move the subscriber's cursor forward to ``position`` (never backward)."""
        target = tuple_(literal(position.tx_id), literal(position.event_pk))
        self._run(
            f"advance subscriber {subscriber!r}",
            lambda c: c.execute(
                update(CURSORS)
                .where(
                    CURSORS.c.subscriber == subscriber,
                    tuple_(CURSORS.c.tx_id, CURSORS.c.event_pk) < target,
                )
                .values(
                    tx_id=position.tx_id, event_pk=position.event_pk, updated_at=now,
                    delivered=CURSORS.c.delivered + count,
                )
            ),
        )  # fmt: skip

    def subscribers(self) -> list[SubscriberPosition]:
        """Every subscriber, its position and how many kept events it has not handled yet."""

        def work(connection: Connection) -> list[SubscriberPosition]:
            result = []
            for row in connection.execute(select(CURSORS).order_by(CURSORS.c.subscriber)):
                pending = connection.execute(
                    select(func.count()).select_from(OUTBOX).where(_past(row.tx_id, row.event_pk))
                ).scalar_one()
                result.append(
                    SubscriberPosition(
                        row.subscriber, int(row.delivered), int(pending),
                        as_utc(row.updated_at),
                    )
                )  # fmt: skip
            return result

        return self._run("read subscribers", work)

    def drop_subscriber(self, subscriber: str) -> bool:
        """Forget a subscriber (its events no longer wait for it); False if unknown."""
        count = self._run(
            f"drop subscriber {subscriber!r}",
            lambda c: c.execute(delete(CURSORS).where(CURSORS.c.subscriber == subscriber)).rowcount,
        )
        return bool(count)

    def prune_events(self, before: datetime, *, undelivered: bool = False) -> int:
        """Delete events older than ``before`` that every subscriber has handled; returns count.

        Args:
            before: events at or after this time are kept.
            undelivered: also delete old events some subscriber has not handled yet.
        """

        def work(connection: Connection) -> int:
            query = delete(OUTBOX).where(OUTBOX.c.at < before)
            if not undelivered:
                for row in connection.execute(select(CURSORS.c.tx_id, CURSORS.c.event_pk)):
                    query = query.where(~_past(row.tx_id, row.event_pk))
            return int(connection.execute(query).rowcount)

        return self._run("prune events", work)

    def count_events(self) -> int:
        """Events kept in the outbox."""
        return int(
            self._run(
                "count events",
                lambda c: c.execute(select(func.count()).select_from(OUTBOX)).scalar_one(),
            )
        )
