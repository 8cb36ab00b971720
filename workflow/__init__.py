"""Durable onboarding of Sent v3 sender profiles.

The public API, importable from here::

    from workflow import EngineConfig, FernetVault, HttpxSentApi, Onboardings, Worker, parse_spec
    from persistence import SqlStore

Names load on first use, so ``import workflow`` (and ``onboarding --help``) pulls in nothing it
does not need: the pure core (spec, rules, machine) needs no I/O dependency, and adapters (the
Sent client, the sandbox, the database) load only where used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workflow.clock import (
        Clock as Clock,
    )
    from workflow.clock import (
        FakeClock as FakeClock,
    )
    from workflow.clock import (
        SystemClock as SystemClock,
    )
    from workflow.errors import (
        ConcurrencyError as ConcurrencyError,
    )
    from workflow.errors import (
        GuardRejectedError as GuardRejectedError,
    )
    from workflow.errors import (
        OnboardingError as OnboardingError,
    )
    from workflow.errors import (
        OnboardingNotFoundError as OnboardingNotFoundError,
    )
    from workflow.errors import (
        Problem as Problem,
    )
    from workflow.errors import (
        SchemaOutdatedError as SchemaOutdatedError,
    )
    from workflow.errors import (
        SecretUnavailableError as SecretUnavailableError,
    )
    from workflow.errors import (
        SentApiError as SentApiError,
    )
    from workflow.errors import (
        SentStatusError as SentStatusError,
    )
    from workflow.errors import (
        SentTransportError as SentTransportError,
    )
    from workflow.errors import (
        SpecConflictError as SpecConflictError,
    )
    from workflow.errors import (
        SpecError as SpecError,
    )
    from workflow.errors import (
        StoreError as StoreError,
    )
    from workflow.errors import (
        TransitionError as TransitionError,
    )
    from workflow.errors import (
        UnexpectedResponseError as UnexpectedResponseError,
    )
    from workflow.executor import (
        EngineConfig as EngineConfig,
    )
    from workflow.executor import (
        Executor as Executor,
    )
    from workflow.executor import (
        StepReport as StepReport,
    )
    from workflow.flow import (
        FLOW as FLOW,
    )
    from workflow.flow import (
        FlowDefinition as FlowDefinition,
    )
    from workflow.machine import (
        OnboardingFlow as OnboardingFlow,
    )
    from workflow.machine import (
        TransitionRecord as TransitionRecord,
    )
    from workflow.management import (
        Onboardings as Onboardings,
    )
    from workflow.ports import (
        Checkpoint as Checkpoint,
    )
    from workflow.ports import (
        Store as Store,
    )
    from workflow.retry import (
        RetryPolicy as RetryPolicy,
    )
    from workflow.rules import (
        CompletionFacts as CompletionFacts,
    )
    from workflow.rules import (
        Outcome as Outcome,
    )
    from workflow.rules import (
        Prerequisite as Prerequisite,
    )
    from workflow.rules import (
        StatusDecision as StatusDecision,
    )
    from workflow.rules import (
        prerequisites as prerequisites,
    )
    from workflow.rules import (
        status_logic as status_logic,
    )
    from workflow.runner import (
        Worker as Worker,
    )
    from workflow.runner import (
        drive_until_idle as drive_until_idle,
    )
    from workflow.secrets import (
        FernetVault as FernetVault,
    )
    from workflow.sent_client import (
        HttpxSentApi as HttpxSentApi,
    )
    from workflow.spec import (
        OnboardingSpec as OnboardingSpec,
    )
    from workflow.spec import (
        load_documents as load_documents,
    )
    from workflow.spec import (
        parse_spec as parse_spec,
    )

_WHERE = {
    "Checkpoint": "workflow.ports",
    "Clock": "workflow.clock",
    "CompletionFacts": "workflow.rules",
    "ConcurrencyError": "workflow.errors",
    "EngineConfig": "workflow.executor",
    "Executor": "workflow.executor",
    "FLOW": "workflow.flow",
    "FakeClock": "workflow.clock",
    "FernetVault": "workflow.secrets",
    "FlowDefinition": "workflow.flow",
    "GuardRejectedError": "workflow.errors",
    "HttpxSentApi": "workflow.sent_client",
    "OnboardingError": "workflow.errors",
    "OnboardingFlow": "workflow.machine",
    "OnboardingNotFoundError": "workflow.errors",
    "OnboardingSpec": "workflow.spec",
    "Onboardings": "workflow.management",
    "Outcome": "workflow.rules",
    "Prerequisite": "workflow.rules",
    "Problem": "workflow.errors",
    "RetryPolicy": "workflow.retry",
    "SchemaOutdatedError": "workflow.errors",
    "SecretUnavailableError": "workflow.errors",
    "SentApiError": "workflow.errors",
    "SentStatusError": "workflow.errors",
    "SentTransportError": "workflow.errors",
    "SpecConflictError": "workflow.errors",
    "SpecError": "workflow.errors",
    "StatusDecision": "workflow.rules",
    "StepReport": "workflow.executor",
    "Store": "workflow.ports",
    "StoreError": "workflow.errors",
    "SystemClock": "workflow.clock",
    "TransitionError": "workflow.errors",
    "TransitionRecord": "workflow.machine",
    "UnexpectedResponseError": "workflow.errors",
    "Worker": "workflow.runner",
    "drive_until_idle": "workflow.runner",
    "load_documents": "workflow.spec",
    "parse_spec": "workflow.spec",
    "prerequisites": "workflow.rules",
    "status_logic": "workflow.rules",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'workflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
