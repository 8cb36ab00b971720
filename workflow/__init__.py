"""Durable onboarding of Sent v3 sender profiles.

The public API, importable from here::

    from workflow import EngineConfig, FernetVault, HttpxSentApi, Onboardings, Worker, parse_spec
    from workflow import verify_audit  # the audit log's hash chains and anchors, checked
    from workflow import AsyncOnboardings, Event, Subscriber  # embedding services
    from persistence import SqlStore

Names load on first use, so ``import workflow`` (and ``onboarding --help``) pulls in nothing it
does not need: the pure core (spec, rules, machine) needs no I/O dependency, and adapters (the
Sent client, the sandbox, the database) load only where used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workflow.aio import (
        AsyncOnboardings as AsyncOnboardings,
    )
    from workflow.audit_anchoring import (
        AnchorReport as AnchorReport,
        anchor_audit as anchor_audit,
    )
    from workflow.audit_verify import (
        AuditProblem as AuditProblem,
        AuditReport as AuditReport,
        verify_audit as verify_audit,
    )
    from workflow.bulk import (
        BulkReport as BulkReport,
        Skipped as Skipped,
    )
    from workflow.clock import (
        Clock as Clock,
        FakeClock as FakeClock,
        SystemClock as SystemClock,
    )
    from workflow.errors import (
        AuditAnchorError as AuditAnchorError,
        CommitFailedError as CommitFailedError,
        ConcurrencyError as ConcurrencyError,
        GuardRejectedError as GuardRejectedError,
        OnboardingError as OnboardingError,
        OnboardingNotFoundError as OnboardingNotFoundError,
        Problem as Problem,
        SchemaOutdatedError as SchemaOutdatedError,
        SecretUnavailableError as SecretUnavailableError,
        SelectionError as SelectionError,
        SentApiError as SentApiError,
        SentStatusError as SentStatusError,
        SentTransportError as SentTransportError,
        SpecConflictError as SpecConflictError,
        SpecError as SpecError,
        StoreError as StoreError,
        TransitionError as TransitionError,
        UnexpectedResponseError as UnexpectedResponseError,
        UnresolvedCreateError as UnresolvedCreateError,
    )
    from workflow.events import (
        Event as Event,
        EventStore as EventStore,
        Subscriber as Subscriber,
    )
    from workflow.executor import (
        EngineConfig as EngineConfig,
        Executor as Executor,
        StepReport as StepReport,
    )
    from workflow.flow import (
        FLOW as FLOW,
        FlowDefinition as FlowDefinition,
    )
    from workflow.machine import (
        OnboardingFlow as OnboardingFlow,
        TransitionRecord as TransitionRecord,
    )
    from workflow.management import (
        Onboardings as Onboardings,
    )
    from workflow.observing import (
        NullObserver as NullObserver,
        Observer as Observer,
    )
    from workflow.ports import (
        Checkpoint as Checkpoint,
        Store as Store,
    )
    from workflow.retry import (
        RetryPolicy as RetryPolicy,
    )
    from workflow.rules import (
        CompletionFacts as CompletionFacts,
        Outcome as Outcome,
        Prerequisite as Prerequisite,
        StatusDecision as StatusDecision,
        prerequisites as prerequisites,
        status_logic as status_logic,
    )
    from workflow.runner import (
        Worker as Worker,
        drive_until_idle as drive_until_idle,
    )
    from workflow.secrets import (
        FernetVault as FernetVault,
    )
    from workflow.selection import (
        Selector as Selector,
    )
    from workflow.sent_client import (
        HttpxSentApi as HttpxSentApi,
    )
    from workflow.spec import (
        OnboardingSpec as OnboardingSpec,
        load_documents as load_documents,
        parse_spec as parse_spec,
    )

_WHERE = {
    "AnchorReport": "workflow.audit_anchoring",
    "AuditProblem": "workflow.audit_verify",
    "AuditReport": "workflow.audit_verify",
    "AsyncOnboardings": "workflow.aio",
    "AuditAnchorError": "workflow.errors",
    "Event": "workflow.events",
    "EventStore": "workflow.events",
    "NullObserver": "workflow.observing",
    "Observer": "workflow.observing",
    "Subscriber": "workflow.events",
    "BulkReport": "workflow.bulk",
    "Checkpoint": "workflow.ports",
    "Clock": "workflow.clock",
    "CompletionFacts": "workflow.rules",
    "CommitFailedError": "workflow.errors",
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
    "SelectionError": "workflow.errors",
    "Selector": "workflow.selection",
    "SentApiError": "workflow.errors",
    "SentStatusError": "workflow.errors",
    "SentTransportError": "workflow.errors",
    "Skipped": "workflow.bulk",
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
    "UnresolvedCreateError": "workflow.errors",
    "Worker": "workflow.runner",
    "drive_until_idle": "workflow.runner",
    "load_documents": "workflow.spec",
    "parse_spec": "workflow.spec",
    "prerequisites": "workflow.rules",
    "status_logic": "workflow.rules",
    "anchor_audit": "workflow.audit_anchoring",
    "verify_audit": "workflow.audit_verify",
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
