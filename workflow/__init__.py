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

from workflow.core.lean_imports import defer_httpx_tool

defer_httpx_tool()

if TYPE_CHECKING:
    from workflow.adapters.sent_client import (
        HttpxSentApi as HttpxSentApi,
    )
    from workflow.adapters.vault import (
        FernetVault as FernetVault,
    )
    from workflow.core.backoff import (
        RetryPolicy as RetryPolicy,
    )
    from workflow.core.clock import (
        Clock as Clock,
        FakeClock as FakeClock,
        SystemClock as SystemClock,
    )
    from workflow.core.errors import (
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
    from workflow.core.machine import (
        OnboardingFlow as OnboardingFlow,
        TransitionRecord as TransitionRecord,
    )
    from workflow.core.rules import (
        CompletionFacts as CompletionFacts,
        Outcome as Outcome,
        Prerequisite as Prerequisite,
        StatusDecision as StatusDecision,
        prerequisites as prerequisites,
        status_logic as status_logic,
    )
    from workflow.core.spec import (
        OnboardingSpec as OnboardingSpec,
        load_documents as load_documents,
        parse_spec as parse_spec,
    )
    from workflow.engine.executor import (
        EngineConfig as EngineConfig,
        Executor as Executor,
        StepReport as StepReport,
    )
    from workflow.engine.observing import (
        NullObserver as NullObserver,
        Observer as Observer,
    )
    from workflow.engine.runner import (
        Worker as Worker,
        drive_until_idle as drive_until_idle,
    )
    from workflow.flows import (
        FLOW as FLOW,
        FlowDefinition as FlowDefinition,
    )
    from workflow.following.events import (
        Event as Event,
        EventStore as EventStore,
        Subscriber as Subscriber,
    )
    from workflow.management.aio import (
        AsyncOnboardings as AsyncOnboardings,
    )
    from workflow.management.audit_anchoring import (
        AnchorReport as AnchorReport,
        anchor_audit as anchor_audit,
    )
    from workflow.management.audit_verify import (
        AuditProblem as AuditProblem,
        AuditReport as AuditReport,
        verify_audit as verify_audit,
    )
    from workflow.management.bulk import (
        BulkReport as BulkReport,
        Skipped as Skipped,
    )
    from workflow.management.onboardings import (
        Onboardings as Onboardings,
    )
    from workflow.management.selection import (
        Selector as Selector,
    )
    from workflow.ports import (
        Checkpoint as Checkpoint,
        Store as Store,
    )

_WHERE = {
    "AnchorReport": "workflow.management.audit_anchoring",
    "AuditProblem": "workflow.management.audit_verify",
    "AuditReport": "workflow.management.audit_verify",
    "AsyncOnboardings": "workflow.management.aio",
    "AuditAnchorError": "workflow.core.errors",
    "Event": "workflow.following.events",
    "EventStore": "workflow.following.events",
    "NullObserver": "workflow.engine.observing",
    "Observer": "workflow.engine.observing",
    "Subscriber": "workflow.following.events",
    "BulkReport": "workflow.management.bulk",
    "Checkpoint": "workflow.ports",
    "Clock": "workflow.core.clock",
    "CompletionFacts": "workflow.core.rules",
    "CommitFailedError": "workflow.core.errors",
    "ConcurrencyError": "workflow.core.errors",
    "EngineConfig": "workflow.engine.executor",
    "Executor": "workflow.engine.executor",
    "FLOW": "workflow.flows",
    "FakeClock": "workflow.core.clock",
    "FernetVault": "workflow.adapters.vault",
    "FlowDefinition": "workflow.flows",
    "GuardRejectedError": "workflow.core.errors",
    "HttpxSentApi": "workflow.adapters.sent_client",
    "OnboardingError": "workflow.core.errors",
    "OnboardingFlow": "workflow.core.machine",
    "OnboardingNotFoundError": "workflow.core.errors",
    "OnboardingSpec": "workflow.core.spec",
    "Onboardings": "workflow.management.onboardings",
    "Outcome": "workflow.core.rules",
    "Prerequisite": "workflow.core.rules",
    "Problem": "workflow.core.errors",
    "RetryPolicy": "workflow.core.backoff",
    "SchemaOutdatedError": "workflow.core.errors",
    "SecretUnavailableError": "workflow.core.errors",
    "SelectionError": "workflow.core.errors",
    "Selector": "workflow.management.selection",
    "SentApiError": "workflow.core.errors",
    "SentStatusError": "workflow.core.errors",
    "SentTransportError": "workflow.core.errors",
    "Skipped": "workflow.management.bulk",
    "SpecConflictError": "workflow.core.errors",
    "SpecError": "workflow.core.errors",
    "StatusDecision": "workflow.core.rules",
    "StepReport": "workflow.engine.executor",
    "Store": "workflow.ports",
    "StoreError": "workflow.core.errors",
    "SystemClock": "workflow.core.clock",
    "TransitionError": "workflow.core.errors",
    "TransitionRecord": "workflow.core.machine",
    "UnexpectedResponseError": "workflow.core.errors",
    "UnresolvedCreateError": "workflow.core.errors",
    "Worker": "workflow.engine.runner",
    "drive_until_idle": "workflow.engine.runner",
    "load_documents": "workflow.core.spec",
    "parse_spec": "workflow.core.spec",
    "prerequisites": "workflow.core.rules",
    "status_logic": "workflow.core.rules",
    "anchor_audit": "workflow.management.audit_anchoring",
    "verify_audit": "workflow.management.audit_verify",
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
