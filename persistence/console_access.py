"""The console's own tables: its users (argon2 hashes and roles) and its events (sign-ins,
failed sign-ins, sign-outs, refused requests).

Hashing and roles are decided in :mod:`workflow.console.access`; this module only stores and
reads rows, through SQLAlchemy Core on the store's engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from persistence.models import ConsoleEventRow, ConsoleUserRow
from workflow.ports import StoreError

__all__ = ["ConsoleAccess", "ConsoleEvent", "ConsoleUser", "UserExistsError"]

USERS: Final[Table] = ConsoleUserRow.__table__  # type: ignore[attr-defined]
EVENTS: Final[Table] = ConsoleEventRow.__table__  # type: ignore[attr-defined]


class UserExistsError(StoreError):
    """A console user of that name exists already."""


@dataclass(frozen=True)
class ConsoleUser:
    """One console user as stored."""

    name: str
    password_hash: str
    role: str
    created_at: datetime


@dataclass(frozen=True)
class ConsoleEvent:
    """One console event as stored."""

    id: int
    at: datetime
    kind: str
    user_name: str | None
    remote: str | None
    path: str | None
    detail: str | None


def _failed(what: str, exc: SQLAlchemyError) -> StoreError:
    original = getattr(exc, "orig", None) or exc
    reason = (str(original).strip().splitlines() or ["database error"])[0]
    return StoreError(f"could not {what}: {type(original).__name__}: {reason}")


class ConsoleAccess:
    """Console users and events in the onboarding database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add_user(self, name: str, password_hash: str, role: str, now: datetime) -> None:
        """Store a new user.

        Raises:
            UserExistsError: the name is taken.
            StoreError: the database failed.
        """
        values = {"name": name, "password_hash": password_hash, "role": role, "created_at": now}
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(USERS).values(**values))
        except IntegrityError:
            raise UserExistsError(
                f"console user {name!r} exists already: remove it first to change it"
            ) from None
        except SQLAlchemyError as exc:
            raise _failed("add a console user", exc) from exc

    def set_password(self, name: str, password_hash: str) -> bool:
        """Replace a user's hash (a rehash after sign-in); whether the user exists."""
        try:
            with self.engine.begin() as connection:
                done = connection.execute(
                    update(USERS).where(USERS.c.name == name).values(password_hash=password_hash)
                )
        except SQLAlchemyError as exc:
            raise _failed("update a console user", exc) from exc
        return bool(done.rowcount)

    def remove_user(self, name: str) -> bool:
        """Delete a user; whether one was deleted."""
        try:
            with self.engine.begin() as connection:
                done = connection.execute(delete(USERS).where(USERS.c.name == name))
        except SQLAlchemyError as exc:
            raise _failed("remove a console user", exc) from exc
        return bool(done.rowcount)

    def user(self, name: str) -> ConsoleUser | None:
        """The user of that name, if any."""
        try:
            with self.engine.connect() as connection:
                row = connection.execute(select(USERS).where(USERS.c.name == name)).first()
        except SQLAlchemyError as exc:
            raise _failed("read a console user", exc) from exc
        return None if row is None else ConsoleUser(**row._mapping)

    def users(self) -> list[ConsoleUser]:
        """Every user, by name."""
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(select(USERS).order_by(USERS.c.name)).all()
        except SQLAlchemyError as exc:
            raise _failed("list console users", exc) from exc
        return [ConsoleUser(**row._mapping) for row in rows]

    def record(
        self,
        kind: str,
        at: datetime,
        *,
        user_name: str | None = None,
        remote: str | None = None,
        path: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Append one event (texts cut to their columns)."""
        values = {
            "kind": kind[:32], "at": at, "user_name": user_name and user_name[:128],
            "remote": remote and remote[:64], "path": path and path[:255],
            "detail": detail and detail[:2000],
        }  # fmt: skip
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(EVENTS).values(**values))
        except SQLAlchemyError as exc:
            raise _failed("record a console event", exc) from exc

    def events(self, *, limit: int = 100, kinds: tuple[str, ...] = ()) -> list[ConsoleEvent]:
        """The newest events first."""
        query = select(EVENTS).order_by(EVENTS.c.id.desc()).limit(limit)
        if kinds:
            query = query.where(EVENTS.c.kind.in_(kinds))
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(query).all()
        except SQLAlchemyError as exc:
            raise _failed("read console events", exc) from exc
        return [ConsoleEvent(**row._mapping) for row in rows]
