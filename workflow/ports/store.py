"""The store port: what the engine, the worker and operators keep, and how.

The engine talks to Sent through :class:`SentApi` (``HttpxSentApi`` implements it) and keeps its
facts in a :class:`Store` (``persistence.SqlStore`` implements it). What crosses the seam is
plain, typed data:

* :class:`Checkpoint` coming out: one onboarding's durable state, guarded by ``version``;
* :class:`StepRecord` coming out and going in: the output of one sub-step of one step, per
  (onboarding, generation, step, item), like DBOS's per-step outputs;
* :class:`Change` going in: one atomic change (a typed :class:`CheckpointUpdate`, at most one
  :class:`AuditEntry`, step records, API attempts, the secret), applied only if the checkpoint is
  still at ``expected_version``.

Those values live in :mod:`workflow.ports.values`; this module holds the protocols.

Nothing here knows SQL, and the store knows no workflow state: which onboardings are runnable is
said by ``next_attempt_at`` (``None``: nothing to do until a person acts), and which accept a
completion callback by ``wake_on_callback``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from workflow.ports.values import (
    UNSET,
    AttemptRecord,
    AuditEntry,
    Change,
    Checkpoint,
    CheckpointUpdate,
    Claim,
    Holder,
    NewOnboarding,
    StepRecord,
    WorkerPresence,
)

__all__ = [
    "UNSET",
    "Anchoring",
    "AttemptRecord",
    "AuditEntry",
    "CallbackReads",
    "CallbackStore",
    "Change",
    "Checkpoint",
    "CheckpointUpdate",
    "Claim",
    "Holder",
    "ManagementStore",
    "NewOnboarding",
    "OwnershipReads",
    "RateSlots",
    "StepRecord",
    "Store",
    "Vault",
    "WorkerPresence",
    "WorkerStore",
]


class Anchoring(Protocol):
    """Anchors audit chain heads with a key kept outside the database
    (:mod:`workflow.core.audit_chain`)."""

    def anchor(self, onboarding_id: str, seq: int, head: str, previous: str) -> str:
        """The anchor of the head ``(onboarding_id, seq, head)`` after the anchor ``previous``."""
        ...


class Vault(Anchoring, Protocol):
    """Seals an onboarding's secrets at rest, fingerprints them, makes callback tokens and
    anchors audit chain heads."""

    def seal(self, values: dict[str, str]) -> bytes:
        """Encrypt secrets."""
        ...

    def open(self, onboarding_id: str, blob: bytes | None) -> dict[str, str]:
        """Decrypt secrets; raises ``SecretUnavailableError`` when gone or unreadable."""
        ...

    def callback_token(self, onboarding_id: str) -> str:
        """The secret token of an onboarding's callback URL."""
        ...

    def check_callback_token(self, onboarding_id: str, token: str) -> bool:
        """Whether a presented token is the onboarding's (constant time)."""
        ...

    def fingerprint(self, values: dict[str, str]) -> str:
        """A keyed digest of secrets (64 hex digits), to recognise them without keeping them."""
        ...


class OwnershipReads(Protocol):
    """What tells whether a resource at Sent is an onboarding's own."""

    def resource_ids(self, onboarding_id: str, step: str) -> list[str]:
        """Every resource id Sent answered to ``step``'s calls for this onboarding, newest first
        (kept with the attempts, so an answer is never lost when its change was refused)."""
        ...

    def item_attempts(self, onboarding_id: str, step: str, item: str) -> list[AttemptRecord]:
        """Every attempt of one item of one step, in every generation, oldest first."""
        ...

    def holders(self, resource_ids: Iterable[str]) -> dict[str, list[Holder]]:
        """Which onboardings hold each id: as their checkpoint's profile id, or named by one of
        their attempts (a create's answer, or what a lookup proved theirs). Ids nobody holds
        are absent."""
        ...


@runtime_checkable
class RateSlots(Protocol):
    """The pace of each endpoint class at Sent, shared by every worker on one database."""

    def take_slot(
        self, endpoint_class: str, per_minute: float, now: datetime, held: datetime | None
    ) -> datetime | None:
        """A slot to call the class: ``None`` to call now, else the time of the slot reserved
        (``held``: the slot reserved earlier, called now or given again when a 429 since
        holds the class back)."""
        ...

    def slow_down(self, endpoint_class: str, until: datetime) -> None:
        """Hold the whole class back until ``until`` (Sent answered 429)."""
        ...


@runtime_checkable
class CallbackReads(Protocol):
    """The completion callbacks an onboarding received."""

    def latest_callback(self, onboarding_id: str, since: datetime) -> Mapping[str, Any] | None:
        """The payload of the newest callback received at or after ``since``, if any."""
        ...


class WorkerStore(OwnershipReads, Protocol):
    """What the executor and the runner need."""

    def load(self, onboarding_id: str) -> Claim:
        """An onboarding's checkpoint and the records of its generation, without a lease."""
        ...

    def claim(
        self,
        owner: str,
        now: datetime,
        lease_seconds: float,
        limit: int,
        *,
        skip: Collection[str] = (),
    ) -> list[Claim]:
        """Lease up to ``limit`` due onboardings not leased by a live worker, none in ``skip``
        (those the worker keeps aside after a failed run)."""
        ...

    def apply(self, change: Change) -> Checkpoint:
        """Apply a change atomically; raises ``ConcurrencyError`` when the version moved on."""
        ...

    def record_attempts(self, onboarding_id: str, attempts: Iterable[AttemptRecord]) -> None:
        """Keep attempts whose change was refused (what Sent answered is never lost)."""
        ...

    def read_secret(self, onboarding_id: str) -> bytes | None:
        """The sealed secrets of an onboarding, if still held."""
        ...

    def extend_leases(self, ids: Iterable[str], owner: str, until: datetime) -> None:
        """Heartbeat the leases this worker holds."""
        ...

    def release(self, onboarding_id: str, owner: str) -> None:
        """Give a lease back without changing the checkpoint."""
        ...

    def count_active(self, *, exclude: Collection[str] = ()) -> int:
        """How many onboardings still have something to do (those in ``exclude`` not counted)."""
        ...

    def record_worker(self, worker: WorkerPresence) -> None:
        """Store a worker's heartbeat (insert, or replace its previous one)."""
        ...

    def next_due(self) -> datetime | None:
        """When the next runnable onboarding becomes due."""
        ...


class ManagementStore(OwnershipReads, Protocol):
    """What starting and operating onboardings needs (no Sent client)."""

    def insert_many(
        self,
        new: Sequence[NewOnboarding],
        *,
        check: Callable[[Checkpoint, NewOnboarding], None] | None = None,
    ) -> list[tuple[Checkpoint, bool]]:
        """Store every new onboarding in one transaction (existing keys are left alone).

        ``check`` sees each existing onboarding a key already names, inside the transaction;
        when it raises, nothing is stored.
        """
        ...

    def find(self, id_or_key: str) -> Checkpoint:
        """An onboarding by id, else by key."""
        ...

    def get(self, onboarding_id: str) -> Checkpoint:
        """An onboarding by id."""
        ...

    def records(self, onboarding_id: str, generation: int) -> list[StepRecord]:
        """The step records of one generation."""
        ...

    def apply(self, change: Change) -> Checkpoint:
        """Apply a change atomically (see :class:`WorkerStore`)."""
        ...

    def read_secret(self, onboarding_id: str) -> bytes | None:
        """The sealed secrets of an onboarding, if still held."""
        ...


class CallbackStore(Protocol):
    """What the completion-callback receiver needs."""

    def has_onboarding(self, onboarding_id: str) -> bool:
        """Whether an onboarding with this id exists."""
        ...

    def record_callback(
        self,
        onboarding_id: str,
        webhook_id: str | None,
        status: str | None,
        payload: dict[str, Any] | None,
        now: datetime,
    ) -> bool:
        """Store an accepted callback and wake its onboarding; False for a replayed id."""
        ...


class Store(WorkerStore, ManagementStore, CallbackStore, Protocol):
    """Everything: what ``persistence.SqlStore`` implements."""
