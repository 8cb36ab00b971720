"""The seams between the layers and their adapters: every port type, in one place.

The engine talks to Sent through :class:`SentApi` (``HttpxSentApi`` implements it) and keeps
its facts in a :class:`Store` (``persistence.SqlStore`` implements it, with
:class:`EventStore`, :class:`SelectionStore` and :class:`AuditSource`). ``persistence``
imports nothing of ``workflow`` but this package, which also re-exports the errors a store
raises.
"""

from __future__ import annotations

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
    UNSET as UNSET,
    Anchoring as Anchoring,
    AttemptRecord as AttemptRecord,
    AuditEntry as AuditEntry,
    CallbackReads as CallbackReads,
    CallbackStore as CallbackStore,
    Change as Change,
    Checkpoint as Checkpoint,
    CheckpointUpdate as CheckpointUpdate,
    Claim as Claim,
    Holder as Holder,
    ManagementStore as ManagementStore,
    NewOnboarding as NewOnboarding,
    OwnershipReads as OwnershipReads,
    RateSlots as RateSlots,
    StepRecord as StepRecord,
    Store as Store,
    Vault as Vault,
    WorkerPresence as WorkerPresence,
    WorkerStore as WorkerStore,
)

__all__ = [
    "UNSET",
    "Anchoring",
    "AttemptRecord",
    "AuditAnchorError",
    "AuditEntry",
    "AuditHead",
    "AuditRow",
    "AuditSource",
    "BatchRecord",
    "CallbackReads",
    "CallbackStore",
    "Change",
    "Checkpoint",
    "CheckpointUpdate",
    "Claim",
    "CommitFailedError",
    "ConcurrencyError",
    "DeliveryError",
    "Event",
    "EventPosition",
    "EventStore",
    "GuardRejectedError",
    "Holder",
    "ManagementStore",
    "NewOnboarding",
    "OnboardingError",
    "OnboardingNotFoundError",
    "Orphan",
    "OwnershipReads",
    "Problem",
    "RateSlots",
    "SchemaOutdatedError",
    "SecretUnavailableError",
    "Selected",
    "SelectionError",
    "SelectionStore",
    "Selector",
    "SentApi",
    "SentApiError",
    "SentStatusError",
    "SentTransportError",
    "SpecConflictError",
    "SpecError",
    "StepRecord",
    "Store",
    "StoreError",
    "SubscriberPosition",
    "TransitionError",
    "UnexpectedResponseError",
    "UnresolvedCreateError",
    "Vault",
    "WorkerPresence",
    "WorkerStore",
    "worker_actor",
]
