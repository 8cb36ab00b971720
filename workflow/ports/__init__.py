"""The seams between the layers and their adapters: every port type, in one place.

The engine talks to Sent through :class:`SentApi` (``HttpxSentApi`` implements it) and keeps
its facts in a :class:`Store` (``persistence.SqlStore`` implements it, with
:class:`EventStore`, :class:`SelectionStore` and :class:`AuditSource`). ``persistence``
imports nothing of ``workflow`` but this package, which also re-exports the errors a store
raises.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workflow.core.clock import as_utc as as_utc
    from workflow.core.errors import (
        AuditAnchorError as AuditAnchorError,
        CommitFailedError as CommitFailedError,
        ConcurrencyError as ConcurrencyError,
        DeliveryError as DeliveryError,
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
    from workflow.ports.audit import (
        AuditHead as AuditHead,
        AuditRow as AuditRow,
        AuditSource as AuditSource,
        Orphan as Orphan,
    )
    from workflow.ports.events import (
        Event as Event,
        EventPosition as EventPosition,
        EventStore as EventStore,
        SubscriberPosition as SubscriberPosition,
    )
    from workflow.ports.selection import (
        BatchRecord as BatchRecord,
        Selected as Selected,
        SelectionStore as SelectionStore,
        Selector as Selector,
        worker_actor as worker_actor,
    )
    from workflow.ports.sent import (
        SentApi as SentApi,
    )
    from workflow.ports.store import (
        Anchoring as Anchoring,
        CallbackReads as CallbackReads,
        CallbackStore as CallbackStore,
        ManagementStore as ManagementStore,
        OwnershipReads as OwnershipReads,
        RateSlots as RateSlots,
        Store as Store,
        Vault as Vault,
        WorkerStore as WorkerStore,
    )
    from workflow.ports.values import (
        UNSET as UNSET,
        AttemptRecord as AttemptRecord,
        AuditEntry as AuditEntry,
        Change as Change,
        Checkpoint as Checkpoint,
        CheckpointUpdate as CheckpointUpdate,
        Claim as Claim,
        Holder as Holder,
        NewOnboarding as NewOnboarding,
        StepRecord as StepRecord,
        WorkerPresence as WorkerPresence,
    )

#: Where each name lives; loaded on first use, so importing one port type (an error, say)
#: does not load them all.
_WHERE: dict[str, str] = {
    "Anchoring": "workflow.ports.store",
    "AttemptRecord": "workflow.ports.values",
    "AuditAnchorError": "workflow.core.errors",
    "AuditEntry": "workflow.ports.values",
    "AuditHead": "workflow.ports.audit",
    "AuditRow": "workflow.ports.audit",
    "AuditSource": "workflow.ports.audit",
    "BatchRecord": "workflow.ports.selection",
    "CallbackReads": "workflow.ports.store",
    "CallbackStore": "workflow.ports.store",
    "Change": "workflow.ports.values",
    "Checkpoint": "workflow.ports.values",
    "CheckpointUpdate": "workflow.ports.values",
    "Claim": "workflow.ports.values",
    "CommitFailedError": "workflow.core.errors",
    "ConcurrencyError": "workflow.core.errors",
    "DeliveryError": "workflow.core.errors",
    "Event": "workflow.ports.events",
    "EventPosition": "workflow.ports.events",
    "EventStore": "workflow.ports.events",
    "GuardRejectedError": "workflow.core.errors",
    "Holder": "workflow.ports.values",
    "ManagementStore": "workflow.ports.store",
    "NewOnboarding": "workflow.ports.values",
    "OnboardingError": "workflow.core.errors",
    "OnboardingNotFoundError": "workflow.core.errors",
    "Orphan": "workflow.ports.audit",
    "OwnershipReads": "workflow.ports.store",
    "Problem": "workflow.core.errors",
    "RateSlots": "workflow.ports.store",
    "SchemaOutdatedError": "workflow.core.errors",
    "SecretUnavailableError": "workflow.core.errors",
    "Selected": "workflow.ports.selection",
    "SelectionError": "workflow.core.errors",
    "SelectionStore": "workflow.ports.selection",
    "Selector": "workflow.ports.selection",
    "SentApi": "workflow.ports.sent",
    "SentApiError": "workflow.core.errors",
    "SentStatusError": "workflow.core.errors",
    "SentTransportError": "workflow.core.errors",
    "SpecConflictError": "workflow.core.errors",
    "SpecError": "workflow.core.errors",
    "StepRecord": "workflow.ports.values",
    "Store": "workflow.ports.store",
    "StoreError": "workflow.core.errors",
    "SubscriberPosition": "workflow.ports.events",
    "TransitionError": "workflow.core.errors",
    "as_utc": "workflow.core.clock",
    "UNSET": "workflow.ports.values",
    "UnexpectedResponseError": "workflow.core.errors",
    "UnresolvedCreateError": "workflow.core.errors",
    "Vault": "workflow.ports.store",
    "WorkerPresence": "workflow.ports.values",
    "WorkerStore": "workflow.ports.store",
    "worker_actor": "workflow.ports.selection",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'workflow.ports' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
