"""What subscribers read from the outbox: events, positions, and the store they need."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

__all__ = ["Event", "EventPosition", "EventStore", "SubscriberPosition"]


SCHEMA_VERSION: Final = 1


@dataclass(frozen=True, slots=True, order=True)
class EventPosition:
    """Where an event sits in the outbox's delivery order (opaque to subscribers)."""

    tx_id: int
    event_pk: int


@dataclass(frozen=True, slots=True)
class Event:
    """One transition of one onboarding, as subscribers see it.

    ``details`` is the audit row's details (an error code, the predicted outcome ...); like the
    audit log it never holds card data or access tokens.
    """

    onboarding_id: str
    key: str
    profile_id: str | None
    seq: int
    trigger: str
    from_state: str | None
    to_state: str
    actor: str
    reason: str | None
    at: datetime
    batch_id: str | None
    request_id: str | None
    details: Mapping[str, Any] | None
    position: EventPosition

    @property
    def event_id(self) -> str:
        """Stable and unique: the same event always has the same id (deduplicate on it)."""
        return f"evt_{self.onboarding_id}_{self.seq}"

    def to_json(self) -> dict[str, Any]:
        """The public JSON object (``docs/schema/event.json``)."""
        return {
            "kind": "event",
            "schema_version": SCHEMA_VERSION,
            "event_id": self.event_id,
            "onboarding_id": self.onboarding_id,
            "key": self.key,
            "profile_id": self.profile_id,
            "seq": self.seq,
            "trigger": self.trigger,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "actor": self.actor,
            "reason": self.reason,
            "at": self.at.isoformat(),
            "batch_id": self.batch_id,
            "request_id": self.request_id,
            "details": dict(self.details) if self.details is not None else {},
        }


@dataclass(frozen=True, slots=True)
class SubscriberPosition:
    """A subscriber's progress: events handled so far, events kept that it has not handled."""

    name: str
    delivered: int
    pending: int
    updated_at: datetime


class EventStore(Protocol):
    """What following the outbox needs (``persistence.SqlStore`` implements it)."""

    def read_events(
        self, subscriber: str, limit: int, now: datetime, after: EventPosition | None = None
    ) -> list[Event]:
        """Up to ``limit`` events past the subscriber's position (or ``after``), in order."""
        ...

    def ack_events(
        self, subscriber: str, position: EventPosition, count: int, now: datetime
    ) -> None:
        """Move the subscriber's position forward to ``position``."""
        ...
