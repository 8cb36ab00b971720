"""Durable onboarding of Sent v3 sender profiles.

The pure core (spec, rules, machine) is importable without any I/O dependency being loaded;
adapters (the Sent client, the sandbox, the database) live in their own modules.
"""

from workflow.clock import Clock, FakeClock, SystemClock
from workflow.errors import (
    ConcurrencyError,
    GuardRejectedError,
    OnboardingError,
    OnboardingNotFoundError,
    Problem,
    SchemaOutdatedError,
    SecretUnavailableError,
    SentApiError,
    SentStatusError,
    SentTransportError,
    SpecConflictError,
    SpecError,
    TransitionError,
)
from workflow.machine import OnboardingFlow, TransitionRecord
from workflow.rules import (
    CompletionFacts,
    Outcome,
    Prerequisite,
    StatusDecision,
    prerequisites,
    status_logic,
)
from workflow.spec import OnboardingSpec, load_documents, parse_spec

__all__ = [
    "Clock",
    "CompletionFacts",
    "ConcurrencyError",
    "FakeClock",
    "GuardRejectedError",
    "OnboardingError",
    "OnboardingFlow",
    "OnboardingNotFoundError",
    "OnboardingSpec",
    "Outcome",
    "Prerequisite",
    "Problem",
    "SchemaOutdatedError",
    "SecretUnavailableError",
    "SentApiError",
    "SentStatusError",
    "SentTransportError",
    "SpecConflictError",
    "SpecError",
    "StatusDecision",
    "SystemClock",
    "TransitionError",
    "TransitionRecord",
    "load_documents",
    "parse_spec",
    "prerequisites",
    "status_logic",
]
