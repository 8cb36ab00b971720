"""Commits: one change of one onboarding, in one transaction.

The checkpoint update is ``UPDATE onboardings ... WHERE id = :w_id AND version = :w_version
RETURNING ...``; zero rows is a :class:`~workflow.ports.ConcurrencyError`. Its statement is
built once per set of columns a change names (:func:`checkpoint_update`) with every value a
bound parameter, so it is compiled once per dialect and each commit only binds values. The
rows a change adds (audit row, outbox event, step records, attempts, secret) are listed once
(:func:`additions`) and written by the statements of :meth:`Commits._statements`.

A writer holding the checkpoint (``Change.base``, the worker after each step) writes the
versioned columns the change names, reads back only ``next_attempt_at``, builds the new
checkpoint from memory, and runs on the DB-API cursor (:mod:`persistence.prepared`: where it
pays); any other change (an operator's) writes the columns it names through a SQLAlchemy
connection and reads the checkpoint back. Either way a column the change leaves alone is not
written: its indexes are not touched, and a value another writer may set without the version
(a callback's wake-up) stays as it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import cached_property, lru_cache
from typing import Any, Final, TypeVar

from sqlalchemy import Boolean, and_, bindparam, case, delete, insert, null, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from persistence.models import SecretRow
from persistence.outbox import OUTBOX_INSERT_KEYS, outbox_insert, outbox_values
from persistence.prepared import Prepared, result_processor, transaction
from persistence.rows import (
    ATTEMPT_KEYS,
    ATTEMPTS,
    CHECKPOINT_COLUMNS,
    ONBOARDINGS,
    RECORD_KEYS,
    TRANSITION_KEYS,
    TRANSITIONS,
    attempt_values,
    record_values,
    to_checkpoint,
    transition_values,
)
from workflow.ports import Change, Checkpoint, ConcurrencyError, OnboardingNotFoundError, StoreError

__all__ = ["WHOLE", "Commits", "additions", "checkpoint_update", "describe"]

T = TypeVar("T")
O = ONBOARDINGS  # noqa: E741
SECRETS = SecretRow.__table__  # type: ignore[attr-defined]

#: Columns the checkpoint's version guards: a change that names only these, from a writer holding
#: the checkpoint, commits on the DB-API cursor. Not among them: the lease (a heartbeat moves it
#: without a version), the nudge time (a callback sets it), and the spec and its fingerprints
#: (changed only by an amend).
WHOLE: Final = frozenset(
    c.name
    for c in CHECKPOINT_COLUMNS
    if c.name
    not in {"id", "key", "created_at", "created_by", "lease_owner", "lease_expires_at", "spec",
            "fingerprint", "secrets_fingerprint"}
)  # fmt: skip
_JSON: Final = ("spec", "last_error")
# ``inline()``: nothing reads the new rows' ids back (no ``RETURNING`` on PostgreSQL).
INSERT_TRANSITION: Final = insert(TRANSITIONS).inline()
INSERT_ATTEMPT: Final = insert(ATTEMPTS).inline()
INSERT_SECRET: Final = insert(SECRETS).inline()
DROP_SECRET: Final = delete(SECRETS).where(SECRETS.c.onboarding_id == bindparam("id"))
#: The columns each added row fills (what a prepared statement is compiled for).
ADDED_KEYS: Final[dict[str, tuple[str, ...] | None]] = {
    "transition": TRANSITION_KEYS,
    "outbox": OUTBOX_INSERT_KEYS,
    "record": RECORD_KEYS,
    "attempt": ATTEMPT_KEYS,
    "drop_secret": None,
    "seal": ("onboarding_id", "ciphertext", "created_at"),
}


def describe(exc: SQLAlchemyError) -> str:
    """The driver's first line, never the statement or its parameters."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return f"{type(original).__name__}: {text[0] if text else 'database error'}"


@lru_cache(maxsize=256)
def checkpoint_update(columns: frozenset[str], held: bool) -> Any:
    """The update of ``columns`` (values ``v_<name>``) at ``w_id`` and ``w_version``.

    ``next_attempt_at`` stays due at ``w_now`` when a callback nudged the onboarding at or after
    ``w_since`` (it arrived while the step ran: the wait is over); the lease ends when
    ``w_release`` is true. Returns ``next_attempt_at`` (``held``: the writer holds the rest) or
    the whole checkpoint.
    """
    values: dict[str, Any] = {
        name: bindparam(f"v_{name}", type_=O.c[name].type) for name in sorted(columns)
    }
    if "next_attempt_at" in values:
        kind = O.c.next_attempt_at.type
        since = bindparam("w_since", type_=kind)
        values["next_attempt_at"] = case(
            (and_(since.is_not(None), O.c.nudged_at >= since), bindparam("w_now", type_=kind)),
            else_=values["next_attempt_at"],
        )
    release = bindparam("w_release", type_=Boolean())
    values["lease_owner"] = case((release, null()), else_=O.c.lease_owner)
    values["lease_expires_at"] = case((release, null()), else_=O.c.lease_expires_at)
    returned = (O.c.next_attempt_at,) if held else CHECKPOINT_COLUMNS
    return (
        update(O)
        .where(O.c.id == bindparam("w_id"), O.c.version == bindparam("w_version"))
        .values(values)
        .returning(*returned)
    )


def _concurrency(change: Change) -> ConcurrencyError:
    return ConcurrencyError(
        f"onboarding {change.onboarding_id} changed since version {change.expected_version} "
        "was read; the outcome was discarded and will be recomputed"
    )


def additions(change: Change, key: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """The rows a change adds beside the checkpoint, per statement (see ``ADDED_KEYS``)."""
    oid = change.onboarding_id
    found: list[tuple[str, list[dict[str, Any]]]] = []
    entry = change.transition
    if entry is not None:
        found.append(("transition", [transition_values(oid, entry)]))
        found.append(("outbox", [outbox_values(oid, key, entry)]))
    if change.records:
        found.append(("record", [record_values(oid, r, change.at) for r in change.records]))
    if change.attempts:
        found.append(("attempt", [attempt_values(oid, a) for a in change.attempts]))
    if change.secret is not None:
        found.append(("drop_secret", [{"id": oid}]))
        if change.secret:
            row = {"onboarding_id": oid, "ciphertext": change.secret, "created_at": change.at}
            found.append(("seal", [row]))
    return found


def _written(change: Change, named: dict[str, Any]) -> dict[str, Any]:
    """The columns a change writes: those its update names (``named``), and its bookkeeping."""
    values = named
    values["version"] = change.expected_version + 1
    values["updated_at"] = change.at
    entry = change.transition
    if entry is not None:
        values["audit_seq"] = entry.seq
        values["audit_head"] = entry.digest
        values["audit_anchor"] = entry.anchor
    if change.secret is not None:  # whether a secret is held follows what the change does
        values["has_secrets"] = bool(change.secret)
    return values


def _parameters(change: Change, values: dict[str, Any], held: bool) -> dict[str, Any]:
    """The update's parameters for the columns ``values``."""
    params = {f"v_{name}": value for name, value in values.items()}
    for name in _JSON:
        if params.get(f"v_{name}") is not None:
            params[f"v_{name}"] = dict(params[f"v_{name}"])
    params.update(
        w_id=change.onboarding_id,
        w_version=change.expected_version,
        w_release=change.release is not None,
    )
    if "next_attempt_at" in values:
        # Without the checkpoint, a change that pauses stays paused whatever the nudge.
        paused = not held and values["next_attempt_at"] is None
        params.update(w_since=None if paused else change.wake_if_nudged_since, w_now=change.at)
    return params


class _Cursor:
    """The statements of the commit on the cursor, compiled for one dialect: the checkpoint's
    update once per set of columns written (the engine's code makes a few dozen), the rows a
    change adds once each."""

    _KEPT: Final = 256

    def __init__(self, dialect: Any, statements: dict[str, Any]) -> None:
        self._dialect = dialect
        self._updates: dict[frozenset[str], Prepared] = {}
        self.due = result_processor(O.c.next_attempt_at, dialect)
        self.adds = {
            name: Prepared(statement, dialect, ADDED_KEYS[name])
            for name, statement in statements.items()
        }

    def update(self, columns: frozenset[str]) -> Prepared:
        found = self._updates.get(columns)
        if found is None:
            if len(self._updates) >= self._KEPT:
                self._updates.clear()
            found = Prepared(checkpoint_update(columns, True), self._dialect)
            found = self._updates.setdefault(columns, found)
        return found


class Commits:
    """The commit side of :class:`~persistence.store.SqlStore`."""

    engine: Engine
    _postgres: bool
    _upsert_record: Any

    def _run(self, what: str, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    @cached_property
    def _statements(self) -> dict[str, Any]:
        """The statement adding each kind of row (see :func:`additions`)."""
        return {
            "transition": INSERT_TRANSITION,
            "outbox": outbox_insert(self._postgres).inline(),
            "record": self._upsert_record,
            "attempt": INSERT_ATTEMPT,
            "drop_secret": DROP_SECRET,
            "seal": INSERT_SECRET,
        }

    @cached_property
    def _prepared(self) -> _Cursor:
        return _Cursor(self.engine.dialect, self._statements)

    def apply(self, change: Change) -> Checkpoint:
        """Apply one change atomically, if nobody wrote the checkpoint since it was read.

        Raises:
            ConcurrencyError: the version moved on (another worker, or an operator, wrote first).
            StoreError: the database failed; nothing was written.
        """
        what = f"commit onboarding {change.onboarding_id}"
        base = change.base
        named = change.update.values()
        if base is not None and base.version == change.expected_version and WHOLE.issuperset(named):
            held = base
            try:
                with transaction(self.engine) as cursor:
                    return self._commit_held(cursor, change, held, named)
            except (ConcurrencyError, OnboardingNotFoundError, IntegrityError):
                raise
            except SQLAlchemyError as exc:
                raise StoreError(f"could not {what}: {describe(exc)}") from exc
        return self._run(what, lambda connection: self._commit(connection, change, named))

    def _commit_held(
        self, cursor: Any, change: Change, base: Checkpoint, named: dict[str, Any]
    ) -> Checkpoint:
        """The named columns, then the rows the change adds, on one cursor; the new checkpoint
        is ``base`` with them (and ``next_attempt_at`` as stored).

        Every parameter is converted before the first statement: the transaction (SQLite's
        write lock, PostgreSQL's row lock) lasts only as long as the statements.
        """
        prepared = self._prepared
        values = _written(change, named)
        update = prepared.update(frozenset(values))
        checkpoint = update.converted(_parameters(change, values, True))
        added = [
            (prepared.adds[name], [prepared.adds[name].converted(row) for row in rows])
            for name, rows in additions(change, base.key)
        ]
        row = update.execute_converted(cursor, [checkpoint]).fetchone()
        if row is None:
            raise _concurrency(change)
        for statement, parameters in added:
            statement.execute_converted(cursor, parameters)
        lease = (None, None) if change.release is not None else (
            base.lease_owner, base.lease_expires_at
        )  # fmt: skip
        values.update(
            next_attempt_at=prepared.due(row[0]), lease_owner=lease[0], lease_expires_at=lease[1]
        )
        return dataclasses.replace(base, **values)

    def _commit(self, connection: Connection, change: Change, named: dict[str, Any]) -> Checkpoint:
        """The columns the change names, read back whole, then the rows it adds."""
        values = _written(change, named)
        statement = checkpoint_update(frozenset(values), False)
        row = connection.execute(statement, _parameters(change, values, False)).first()
        if row is None:
            raise _concurrency(change)
        checkpoint = to_checkpoint(row._mapping)
        for name, rows in additions(change, checkpoint.key):
            connection.execute(self._statements[name], rows)
        return checkpoint
