"""SQL persistence of onboardings: checkpoints, the append-only audit log and step attempts.

All SQL of the project lives in this package: :class:`SqlStore` (SQLite by default, PostgreSQL
when several workers share the work), the ``*Row`` tables, and Alembic migrations.
"""

from persistence.db import check_writable, database_url, make_engine, safe_url, sqlite_path
from persistence.migrate import current_revision, ensure_current, head_revision, upgrade
from persistence.models import (
    CallbackEventRow,
    OnboardingRow,
    SecretRow,
    StepAttemptRow,
    StepRecordRow,
    TransitionRow,
)
from persistence.store import SqlStore, StoreError

__all__ = [
    "CallbackEventRow",
    "OnboardingRow",
    "SecretRow",
    "SqlStore",
    "StepAttemptRow",
    "StepRecordRow",
    "StoreError",
    "TransitionRow",
    "check_writable",
    "current_revision",
    "database_url",
    "ensure_current",
    "head_revision",
    "make_engine",
    "safe_url",
    "sqlite_path",
    "upgrade",
]
