"""The audit log's hash chain: each transition row is tied to the row before it.

A row's ``digest`` is SHA-256 over a canonical JSON of its content (onboarding, sequence number,
trigger, states, actor, time, reason, request id, details, profile id, batch id) and the previous
row's digest, so editing any field of any row, deleting a row, or reordering rows breaks every
digest after it. Writers compute it from the checkpoint they hold (its ``audit_seq`` and
``audit_head``); the version check makes sure nobody appended in between.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Final

from workflow.ports import AuditEntry, Checkpoint

__all__ = ["GENESIS", "chained", "digest"]

#: The "previous digest" of an onboarding's first row.
GENESIS: Final = "0" * 64


def _when(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def digest(onboarding_id: str, entry: AuditEntry, previous: str) -> str:
    """The digest of one row, given the previous row's digest (:data:`GENESIS` for the first)."""
    content: list[Any] = [
        onboarding_id,
        entry.seq,
        entry.trigger,
        entry.from_state,
        entry.to_state,
        entry.actor,
        _when(entry.at),
        entry.reason,
        entry.request_id,
        entry.details,
        entry.profile_id,
        entry.batch_id,
        previous,
    ]
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def chained(checkpoint: Checkpoint, entry: AuditEntry) -> AuditEntry:
    """``entry`` numbered after the checkpoint's last row and chained to it."""
    seq = checkpoint.audit_seq + 1
    numbered = dataclasses.replace(entry, seq=seq)
    previous = checkpoint.audit_head or GENESIS
    return dataclasses.replace(numbered, digest=digest(checkpoint.id, numbered, previous))
