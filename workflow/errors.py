"""The one error tree of the onboarding engine.

Every error the engine raises on purpose derives from :class:`OnboardingError`::

    OnboardingError
    ├── SpecError                  a spec breaks the API's rules (every problem, by field path)
    ├── SpecConflictError          a key was started before with a different spec
    ├── OnboardingNotFoundError    no onboarding has that id or key
    ├── SelectionError             a bulk selection's filter is malformed or unknown
    ├── TransitionError            a trigger is not valid in the current state
    │   ├── GuardRejectedError     valid trigger, but a guard refused it (reasons attached)
    │   └── UnresolvedCreateError  it would change (or re-key) a create whose outcome is unknown
    ├── ConcurrencyError           a checkpoint changed under us (optimistic version check)
    ├── SchemaOutdatedError        the database schema is older than this code
    ├── SecretUnavailableError     a step needs a secret that is gone or unreadable
    ├── AuditAnchorError           an audit log's head has no anchor to chain a new row to
    ├── StoreError                 the database failed (unreachable, read-only, full)
    ├── CommitFailedError          neither a step's outcome nor its failure could be committed
    ├── DeliveryError              a webhook receiver did not accept an event (it is retried)
    └── SentApiError               a call to Sent failed; ``retryable`` is decided here, once
        ├── SentTransportError     connection error or timeout (retryable)
        ├── SentStatusError        Sent answered with an error status
        └── UnexpectedResponseError  a success reply that does not parse into the expected shape

Retryability is an attribute, set where the HTTP response is read: the runner never keeps an
``isinstance`` list of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workflow.bounds import (
    MAX_CODE,
    MAX_MESSAGE,
    MAX_REQUEST_ID,
    bounded,
    bounded_details,
    optional,
)

__all__ = [
    "AuditAnchorError",
    "CommitFailedError",
    "ConcurrencyError",
    "DeliveryError",
    "GuardRejectedError",
    "OnboardingError",
    "OnboardingNotFoundError",
    "Problem",
    "SchemaOutdatedError",
    "SecretUnavailableError",
    "SelectionError",
    "SentApiError",
    "SentStatusError",
    "SentTransportError",
    "SpecConflictError",
    "SpecError",
    "StoreError",
    "TransitionError",
    "UnexpectedResponseError",
    "UnresolvedCreateError",
]

#: HTTP statuses Sent may answer that are worth another attempt with the same Idempotency-Key.
RETRYABLE_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule: a field path (as in ``VALIDATION_001`` details) and a sentence."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class OnboardingError(Exception):
    """Base class of every error the engine raises on purpose."""


class SpecError(OnboardingError):
    """An onboarding spec breaks one or more rules; ``problems`` lists all of them."""

    def __init__(self, problems: Sequence[Problem], *, source: str | None = None) -> None:
        self.problems = tuple(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "; ".join(str(p) for p in self.problems)
        super().__init__(
            f"{len(self.problems)} problem(s){where}: {lines}. Fix the spec and submit it again."
        )

    def as_details(self) -> dict[str, list[str]]:
        """The problems shaped like the API's ``error.details``: field path -> messages."""
        details: dict[str, list[str]] = {}
        for problem in self.problems:
            details.setdefault(problem.path, []).append(problem.message)
        return details


class SpecConflictError(OnboardingError):
    """The onboarding key is taken by a different spec; ``key`` names it (when one key)."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        super().__init__(message)


class OnboardingNotFoundError(OnboardingError):
    """No onboarding matches the id or key asked for."""


class SelectionError(OnboardingError):
    """A bulk action's selection is malformed (a filter's syntax, an unknown state, none)."""


class TransitionError(OnboardingError):
    """A trigger cannot fire from the onboarding's current state; nothing changed."""

    def __init__(self, trigger: str, state: str, message: str | None = None) -> None:
        self.trigger = trigger
        self.state = state
        super().__init__(message or f"trigger {trigger!r} is not valid in state {state!r}")


class GuardRejectedError(TransitionError):
    """The trigger is valid in this state but its guard refused; ``reasons`` says why."""

    def __init__(self, trigger: str, state: str, reasons: Sequence[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__(
            trigger,
            state,
            f"trigger {trigger!r} refused in state {state!r}: " + "; ".join(self.reasons),
        )


class UnresolvedCreateError(TransitionError):
    """An operator action would change the body (or the Idempotency-Key) of a create that was
    sent and whose reply is unknown, or that a worker is sending now: it could make a second
    profile or campaign at Sent. Nothing changed; the message says what to do first."""


class ConcurrencyError(OnboardingError):
    """The checkpoint's version moved on since it was read: another worker wrote it first."""


class SchemaOutdatedError(OnboardingError):
    """The database schema is not at the revision this code needs."""


class SecretUnavailableError(OnboardingError):
    """A step needs a secret (payment details, WhatsApp token) that cannot be read."""


class AuditAnchorError(OnboardingError):
    """An onboarding's audit log has no anchor (written before anchoring, or the anchor was
    removed): a row written on it could not be verified, so nothing is written until a person
    has checked the log and anchored it (``onboarding audit anchor``)."""


class StoreError(OnboardingError):
    """The database failed (connection lost, read-only, disk full); the message says which call
    and never quotes the statement's parameters."""


class CommitFailedError(OnboardingError):
    """A step ran, but neither its outcome nor the failure of that commit could be written.

    The onboarding is left as it was committed last (still due); the worker keeps it aside for
    a backoff of its own instead of claiming it again at once.
    """

    def __init__(self, onboarding_id: str, message: str) -> None:
        self.onboarding_id = onboarding_id
        super().__init__(message)


class DeliveryError(OnboardingError):
    """A webhook receiver did not answer an event with 2xx (it is offered again later)."""


class SentApiError(OnboardingError):
    """A call to the Sent API failed.

    Every value that may come from Sent is cleaned and bounded here (:mod:`workflow.bounds`):
    whoever builds the error, what it carries fits the columns it is stored in.

    Attributes:
        status: HTTP status, or ``None`` when no response arrived.
        code: Sent's ``error.code`` (``VALIDATION_001``, ``RESOURCE_014`` ...), when given.
        details: Sent's ``error.details``: field path -> messages.
        request_id: Sent's ``meta.request_id``, to quote to Sent's support.
        retry_after: seconds Sent asked us to wait (``Retry-After``), when given.
        retryable: whether the same call, with the same Idempotency-Key, may succeed later.
        unexpected: the reply was not what the API documents; retried on a short budget.
    """

    unexpected = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        retryable: bool = False,
    ) -> None:
        self.message = bounded(message, MAX_MESSAGE)
        self.status = status
        self.code = optional(code, MAX_CODE) or None
        self.details = bounded_details(details)
        self.request_id = optional(request_id, MAX_REQUEST_ID) or None
        self.retry_after = retry_after
        self.retryable = retryable
        parts = [f"HTTP {status}" if status is not None else "no response"]
        if self.code:
            parts.append(self.code)
        text = f"Sent API error ({', '.join(parts)}): {self.message}"
        if self.details:
            text += " " + "; ".join(f"{k}: {' '.join(v)}" for k, v in self.details.items())
        if self.request_id:
            text += f" [request {self.request_id}]"
        super().__init__(text)


class SentTransportError(SentApiError):
    """No usable response: connection refused or reset, or a timeout. Always retryable."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class SentStatusError(SentApiError):
    """Sent answered with a non-2xx status; retryable for 408, 409, 429 and 5xx."""

    @staticmethod
    def is_retryable_status(status: int) -> bool:
        """Whether an HTTP status is worth another attempt with the same Idempotency-Key."""
        return status in RETRYABLE_STATUSES or status >= 500


class UnexpectedResponseError(SentApiError):
    """A reply that does not parse into the documented shape (the call may have been applied).

    Retried on the step's short budget for unexpected failures, then the onboarding pauses with
    ``UNEXPECTED_RESPONSE``: never an immediate re-run.
    """

    unexpected = True

    def __init__(self, message: str, *, status: int | None, request_id: str | None = None) -> None:
        super().__init__(message, status=status, request_id=request_id, retryable=True)
