"""The values that cross the store port: checkpoints, step records, changes, audit entries.

What comes out of a :class:`~workflow.ports.Store` (:class:`Checkpoint`, :class:`StepRecord`,
:class:`Claim`) and what goes in (:class:`Change` with its typed :class:`CheckpointUpdate`,
:class:`AuditEntry`, :class:`AttemptRecord`, :class:`NewOnboarding`, :class:`WorkerPresence`):
plain, typed, frozen data that knows no SQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from operator import attrgetter
from typing import Any, Final

__all__ = [
    "UNSET",
    "AttemptRecord",
    "AuditEntry",
    "Change",
    "Checkpoint",
    "CheckpointUpdate",
    "Claim",
    "Holder",
    "NewOnboarding",
    "StepRecord",
    "Unset",
    "WorkerPresence",
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
    of its onboarding, so an edited or deleted row is detectable (:mod:`workflow.core.audit_chain`).
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
            name: value
            for name, value in zip(_UPDATE_FIELDS, _update_fields(self), strict=True)
            if value is not UNSET
        }


_UPDATE_FIELDS: Final = CheckpointUpdate.__slots__
_update_fields: Final = attrgetter(*_UPDATE_FIELDS)


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
            then write the columns the update names with a prepared statement and return the
            new checkpoint without reading it back.
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
