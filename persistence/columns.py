"""How the read path decodes a value, by column name: derived from the table metadata.

The operator reads (:mod:`persistence.dbapi`) run on the bare DB-API driver and must not import
SQLAlchemy (start-up time), so the kinds :func:`derive` reads from the tables of
:mod:`persistence.models` are written out in :data:`KINDS` (``python -m persistence.columns``
prints them again after a model changes); a test keeps the two equal. Every column name has
one kind in every table, which :func:`derive` checks.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ALIASES", "KINDS", "derive"]

#: ``time`` (aware UTC datetime), ``json`` (a Python value) or ``boolean``, per column name.
KINDS: Final[dict[str, str]] = {
    "at": "time",
    "completion_deadline": "time",
    "created_at": "time",
    "details": "json",
    "done": "boolean",
    "finished_at": "time",
    "first_sent_at": "time",
    "has_secrets": "boolean",
    "last_error": "json",
    "last_seen": "time",
    "lease_expires_at": "time",
    "may_exist": "boolean",
    "next_attempt_at": "time",
    "nudged_at": "time",
    "output": "json",
    "payload": "json",
    "rate_slot_at": "time",
    "received_at": "time",
    "replayed": "boolean",
    "spec": "json",
    "started_at": "time",
    "step_started_at": "time",
    "stopped_at": "time",
    "uncertain": "boolean",
    "updated_at": "time",
    "wake_on_callback": "boolean",
}
#: Names the read queries give to computed times.
ALIASES: Final[dict[str, str]] = {"since": "time", "oldest": "time", "entered_at": "time"}


def derive() -> dict[str, str]:
    """The kind of every column of a time, JSON or boolean type, from the table metadata.

    Raises:
        ValueError: one name has different kinds in different tables.
    """
    from sqlalchemy import JSON, Boolean, DateTime, TypeDecorator
    from sqlmodel import SQLModel

    import persistence.models  # the tables
    import persistence.presence  # noqa: F401  (the workers table)

    found: dict[str, str] = {}
    for table in SQLModel.metadata.sorted_tables:
        for column in table.c:
            kind = column.type
            if isinstance(kind, TypeDecorator):
                kind = kind.impl_instance
            name = (
                "time" if isinstance(kind, DateTime)
                else "json" if isinstance(kind, JSON)
                else "boolean" if isinstance(kind, Boolean)
                else None
            )  # fmt: skip
            if name is None:
                continue
            if found.setdefault(column.name, name) != name:
                raise ValueError(f"column {column.name} is a {name} in {table.name} only")
    return dict(sorted(found.items()))


if __name__ == "__main__":
    for column, kind in derive().items():
        print(f'    "{column}": "{kind}",')
