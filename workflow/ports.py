"""The seams between the engine and its adapters, in one place.

The engine talks to Sent through :class:`SentApi` (``HttpxSentApi`` implements it) and keeps its
facts in a :class:`Store` (``persistence.SqlStore`` implements it). What crosses the seam is
plain, typed data:

* :class:`Checkpoint` coming out: one onboarding's durable state, guarded by ``version``;
* :class:`StepRecord` coming out and going in: the output of one sub-step of one step, per
  (onboarding, generation, step, item), like DBOS's per-step outputs;
* :class:`Change` going in: one atomic change (a typed :class:`CheckpointUpdate`, at most one
  :class:`AuditEntry`, step records, API attempts, the secret), applied only if the checkpoint is
  still at ``expected_version``.

Nothing here knows SQL, and the store knows no workflow state: which onboardings are runnable is
said by ``next_attempt_at`` (``None``: nothing to do until a person acts), and which accept a
completion callback by ``wake_on_callback``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

if TYPE_CHECKING:
    from workflow.sent_models import Campaign, CompleteResult, ProfileDetail, SentResponse

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
    "SentApi",
    "StepRecord",
    "Store",
    "Vault",
    "WorkerPresence",
    "WorkerStore",
]


class Unset(Enum):
    """The type of :data:`UNSET`: "leave this field as it is"."""

    UNSET = 0


UNSET: Final = Unset.UNSET


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A transition to append to the audit log.

    ``seq`` and ``digest`` are computed by the writer from the checkpoint it read (the version
    check makes sure nobody appended in between): the digest chains each row to the previous row
    of its onboarding, so an edited or deleted row is detectable (:mod:`workflow.audit`).
    """

    trigger: str
    from_state: str | None
    to_state: str
    actor: str
    at: datetime
    reason: str | None = None
    request_id: str | None = None
    details: Mapping[str, Any] | None = None
    profile_id: str | None = None
    batch_id: str | None = None
    seq: int = 0
    digest: str = ""
    #: The anchor of the head this row makes (kept in the checkpoint, not in the row).
    anchor: str = ""


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One API call made by a step: what was sent, what came back, how long it took.

    ``resource_id`` is the id a create's reply named, or, on a lookup's attempt, the resource it
    proved the item's own (so every resource an onboarding holds is named by an attempt);
    ``content_digest`` a digest of the non-secret content a create sent (never a secret), so
    that what a lost reply may have made can later be told from another onboarding's resource
    with the same content.
    """

    step: str
    attempt: int
    method: str
    path: str
    at: datetime
    latency_ms: float
    outcome: str  # "ok", "retry", "failed"
    idempotency_key: str | None = None
    http_status: int | None = None
    error_code: str | None = None
    request_id: str | None = None
    message: str | None = None
    item: str | None = None
    generation: int = 0
    resource_id: str | None = None
    content_digest: str | None = None
    #: Sent answered ``Idempotent-Replayed: true``: the reply is the one cached for the key.
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Holder:
    """An onboarding that holds a resource id: its checkpoint, an attempt's reply or a step
    record's output names it."""

    onboarding_id: str
    key: str


@dataclass(frozen=True, slots=True)
class StepRecord:
    """What one sub-step (item) of one step achieved in one generation.

    Attributes:
        done: the item's effect is applied at Sent and ``output`` says what came back.
        output: the typed output's JSON form (each step module owns its shape).
        key_seq: which Idempotency-Key of the item is current; it moves on only when Sent
            refused the previous key's call outright (nothing was applied under it).
        uncertain: an attempt under the current key may have been applied without us seeing
            the reply (lost reply, timeout, 5xx); the same key replays it, for 24 hours.
        may_exist: an attempt under an earlier key (an earlier generation, a retired key) may
            have been applied: before creating under the current key, read Sent first.
        first_sent_at: when the current key was first sent (Sent forgets keys after 24 h).
    """

    step: str
    item: str
    generation: int
    done: bool = False
    output: Mapping[str, Any] = field(default_factory=dict)
    key_seq: int = 0
    uncertain: bool = False
    may_exist: bool = False
    first_sent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One onboarding's durable state, as of ``version``."""

    id: str
    key: str
    fingerprint: str
    spec: Mapping[str, Any]
    state: str
    version: int
    created_at: datetime
    updated_at: datetime
    paused_from: str | None = None
    profile_id: str | None = None
    generation: int = 0
    flow_version: int = 1
    attempts: int = 0
    next_attempt_at: datetime | None = None
    step_started_at: datetime | None = None
    last_error: Mapping[str, Any] | None = None
    predicted_outcome: str | None = None
    predicted_rule: int | None = None
    actual_outcome: str | None = None
    completion_deadline: datetime | None = None
    has_secrets: bool = False
    #: HMAC of the secrets the spec carried (``""``: none); ``None`` for rows stored before it.
    secrets_fingerprint: str | None = None
    wake_on_callback: bool = False
    finished_at: datetime | None = None
    audit_seq: int = 0
    audit_head: str = ""
    audit_anchor: str = ""
    created_by: str | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    #: The Sent API revision the onboarding started under (``2026-03``, ``2026-10``).
    sent_api: str = "2026-03"
    #: While it waits for a slot of a rate-limited endpoint class: the class and the slot held.
    rate_class: str | None = None
    rate_slot_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CheckpointUpdate:
    """The checkpoint fields one change sets; every field left :data:`UNSET` stays as it is."""

    state: str | Unset = UNSET
    paused_from: str | Unset | None = UNSET
    profile_id: str | Unset | None = UNSET
    generation: int | Unset = UNSET
    attempts: int | Unset = UNSET
    next_attempt_at: datetime | Unset | None = UNSET
    step_started_at: datetime | Unset | None = UNSET
    last_error: Mapping[str, Any] | Unset | None = UNSET
    predicted_outcome: str | Unset | None = UNSET
    predicted_rule: int | Unset | None = UNSET
    actual_outcome: str | Unset | None = UNSET
    completion_deadline: datetime | Unset | None = UNSET
    wake_on_callback: bool | Unset = UNSET
    finished_at: datetime | Unset | None = UNSET
    spec: Mapping[str, Any] | Unset = UNSET
    fingerprint: str | Unset = UNSET
    has_secrets: bool | Unset = UNSET
    secrets_fingerprint: str | Unset | None = UNSET
    rate_class: str | Unset | None = UNSET
    rate_slot_at: datetime | Unset | None = UNSET

    def values(self) -> dict[str, Any]:
        """The fields that are set, by name."""
        return {
            name: value for name in self.__slots__ if (value := getattr(self, name)) is not UNSET
        }


@dataclass(frozen=True, slots=True)
class Change:
    """One atomic change of one onboarding, applied only at ``expected_version``.

    Attributes:
        update: the checkpoint fields to set (``version`` always moves on by one).
        transition: the audit row, when the change is a transition.
        records: step records to write (inserted, or replacing the same key); a rewind writes
            the new generation's records this way.
        attempts: API attempts made by the step.
        secret: ``None`` keeps the stored secret, ``b""`` deletes it, other bytes replace it.
        release: the worker id whose lease this change ends (the claim is over).
        wake_if_nudged_since: when a callback woke the onboarding at or after this time (while
            the step ran), it stays due now instead of taking ``next_attempt_at``.
        base: the checkpoint the change applies to, when the writer holds it: the store can
            then write the whole checkpoint with one prepared statement and return the new one
            without reading anything back.
    """

    onboarding_id: str
    expected_version: int
    at: datetime
    update: CheckpointUpdate = field(default_factory=CheckpointUpdate)
    transition: AuditEntry | None = None
    records: Sequence[StepRecord] = ()
    attempts: Sequence[AttemptRecord] = ()
    secret: bytes | None = None
    release: str | None = None
    wake_if_nudged_since: datetime | None = None
    base: Checkpoint | None = None


@dataclass(frozen=True, slots=True)
class NewOnboarding:
    """A validated spec to store as a new onboarding, with its first audit row."""

    checkpoint: Checkpoint
    transition: AuditEntry
    secret: bytes | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """An onboarding a worker leased: its checkpoint and the records of its generation."""

    checkpoint: Checkpoint
    records: Sequence[StepRecord]


@dataclass(frozen=True, slots=True)
class WorkerPresence:
    """A worker as it reports itself on each heartbeat (``onboarding workers`` lists them).

    A worker whose ``last_seen`` is older than a few ``heartbeat_seconds`` and that never
    reported ``stopped_at`` has died (killed, host lost).
    """

    id: str
    host: str
    pid: int
    version: str
    started_at: datetime
    last_seen: datetime
    concurrency: int
    in_flight: int
    heartbeat_seconds: float
    stopped_at: datetime | None = None


class Anchoring(Protocol):
    """Anchors audit chain heads with a key kept outside the database (:mod:`workflow.audit`)."""

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


class SentApi(Protocol):
    """What the engine needs from Sent.

    ``scope`` is the ``x-profile-id`` header: the child profile a call acts on.
    ``sandbox`` is the body flag of every mutation.
    """

    def create_profile(
        self, body: Mapping[str, Any], *, idempotency_key: str
    ) -> SentResponse[ProfileDetail]: ...

    def get_profile(self, profile_id: str) -> SentResponse[ProfileDetail]: ...

    def list_profiles(self) -> list[ProfileDetail]: ...

    def update_profile(
        self, profile_id: str, body: Mapping[str, Any], *, idempotency_key: str
    ) -> SentResponse[ProfileDetail]: ...

    def delete_profile(self, profile_id: str) -> None: ...

    def complete(
        self, profile_id: str, web_hook_url: str, *, idempotency_key: str
    ) -> SentResponse[CompleteResult]: ...

    def list_campaigns(self, profile_id: str) -> list[Campaign]: ...

    def create_campaign(
        self, profile_id: str, campaign: Mapping[str, Any], *, idempotency_key: str
    ) -> SentResponse[Campaign]: ...
