"""SQL persistence of onboardings: checkpoints, step records, the audit log and attempts.

All SQL of the project lives in this package: :class:`SqlStore` (SQLite by default, PostgreSQL
when several workers share the work), the ``*Row`` tables, Alembic migrations, and
:class:`SqlReader`, the operator reads straight through the DB-API driver (fast start-up).
Names load on first use, so naming a database does not load SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from persistence.db import (
        check_writable as check_writable,
        database_url as database_url,
        make_engine as make_engine,
        safe_url as safe_url,
        sqlite_path as sqlite_path,
    )
    from persistence.migrate import (
        current_revision as current_revision,
        ensure_current as ensure_current,
        head_revision as head_revision,
        upgrade as upgrade,
    )
    from persistence.models import (
        CallbackEventRow as CallbackEventRow,
        OnboardingRow as OnboardingRow,
        SecretRow as SecretRow,
        StepAttemptRow as StepAttemptRow,
        StepRecordRow as StepRecordRow,
        TransitionRow as TransitionRow,
    )
    from persistence.presence import WorkerRow as WorkerRow
    from persistence.reader import SqlReader as SqlReader
    from persistence.store import (
        SqlStore as SqlStore,
        StoreError as StoreError,
    )

_WHERE = {
    "CallbackEventRow": "persistence.models",
    "OnboardingRow": "persistence.models",
    "SecretRow": "persistence.models",
    "SqlReader": "persistence.reader",
    "SqlStore": "persistence.store",
    "StepAttemptRow": "persistence.models",
    "StepRecordRow": "persistence.models",
    "StoreError": "persistence.store",
    "TransitionRow": "persistence.models",
    "WorkerRow": "persistence.presence",
    "check_writable": "persistence.db",
    "current_revision": "persistence.migrate",
    "database_url": "persistence.db",
    "ensure_current": "persistence.migrate",
    "head_revision": "persistence.migrate",
    "make_engine": "persistence.db",
    "safe_url": "persistence.db",
    "sqlite_path": "persistence.db",
    "upgrade": "persistence.migrate",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'persistence' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
