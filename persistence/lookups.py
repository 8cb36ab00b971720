"""The reads the store and the operator commands share, written once: an onboarding by id, key
or profile id, its audit log, its API attempts.

Plain SQL with ``:name`` parameters, run by whoever holds the connection: ``SqlReader`` on the
DB-API driver (:mod:`persistence.dbapi`), ``SqlStore`` on its SQLAlchemy connection. Either
way a row is decoded by :func:`persistence.dbapi.decode`, after the column kinds of the table
metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from workflow.ports import OnboardingNotFoundError

__all__ = ["ATTEMPT", "ONBOARDING", "TRANSITION", "Rows", "attempts", "find", "history"]

#: Runs ``sql`` with ``params`` for the read named first; the rows decoded.
Rows = Callable[[str, str, dict[str, Any]], list[dict[str, Any]]]

ONBOARDING: Final = (
    "id, key, fingerprint, state, paused_from, profile_id, generation, flow_version, attempts, "
    "next_attempt_at, step_started_at, lease_owner, lease_expires_at, version, last_error, "
    "predicted_outcome, predicted_rule, actual_outcome, completion_deadline, has_secrets, "
    "wake_on_callback, audit_seq, audit_head, created_by, created_at, updated_at, finished_at, "
    "sent_api, rate_class, rate_slot_at"
)
TRANSITION: Final = (
    "t.id, t.onboarding_id, o.key, t.seq, t.at, t.trigger, t.from_state, t.to_state, t.actor, "
    "t.reason, t.request_id, t.details, t.profile_id, t.batch_id, t.digest"
)
ATTEMPT: Final = (
    "a.id, a.onboarding_id, o.key, a.step, a.item, a.generation, a.attempt, a.method, a.path, "
    "a.at, a.latency_ms, a.outcome, a.idempotency_key, a.http_status, a.error_code, "
    "a.request_id, a.message, a.resource_id, a.content_digest, a.replayed"
)
# A left join: rows whose onboarding is gone (an auditor looks for them) still read.
HISTORY: Final = (
    f"SELECT {TRANSITION} FROM transitions t LEFT JOIN onboardings o ON o.id = t.onboarding_id "
    "WHERE t.onboarding_id = :id ORDER BY t.seq"
)
ATTEMPTS: Final = (
    f"SELECT {ATTEMPT} FROM step_attempts a LEFT JOIN onboardings o ON o.id = a.onboarding_id "
    "WHERE a.onboarding_id = :id ORDER BY a.id"
)
_NAMED: Final = {"id": "id", "key": "key", "profile_id": "profile id"}


def find(rows: Rows, id_or_key: str, columns: str, by: Sequence[str]) -> dict[str, Any]:
    """``columns`` of the onboarding whose first of ``by`` (``id``, ``key``, ``profile_id``)
    is ``id_or_key``.

    Raises:
        OnboardingNotFoundError: none matches.
    """
    for column in by:
        found = rows(
            "read an onboarding",
            f"SELECT {columns} FROM onboardings WHERE {column} = :value",
            {"value": id_or_key},
        )
        if found:
            return found[0]
    names = [_NAMED[column] for column in by]
    named = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    raise OnboardingNotFoundError(
        f"no onboarding with {named} {id_or_key!r}; 'onboarding list' shows them"
    )


def history(rows: Rows, onboarding_id: str) -> list[dict[str, Any]]:
    """The audit log of one onboarding, in order, each row with the onboarding's key."""
    return rows("read the audit log", HISTORY, {"id": onboarding_id})


def attempts(rows: Rows, onboarding_id: str) -> list[dict[str, Any]]:
    """Every API attempt of one onboarding, in order, each with the onboarding's key."""
    return rows("read attempts", ATTEMPTS, {"id": onboarding_id})
