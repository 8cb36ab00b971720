"""The audit log's hash chain: each transition row is tied to the row before it.

A row's ``digest`` is SHA-256 over a canonical JSON of its content (onboarding, sequence number,
trigger, states, actor, time, reason, request id, details, profile id, batch id) and the previous
row's digest, so editing any field of any row, deleting a row, or reordering rows breaks every
digest after it. Writers compute it from the checkpoint they hold (its ``audit_seq`` and
``audit_head``); the version check makes sure nobody appended in between.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any, Final

from workflow.ports import AuditEntry, Checkpoint

__all__ = ["GENESIS", "chained", "digest", "row_digest"]

#: The "previous digest" of an onboarding's first row.
GENESIS: Final = "0" * 64

# The canonical form: keys sorted, no spaces; anything JSON lacks (a Decimal, say) as its str().
# One encoder for every row (``json.dumps`` with options builds a new one per call).
_dumps: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode


def _when(moment: datetime) -> str:
    if moment.tzinfo is None:  # SQLite's: stored as UTC (and the cheap case, once per row read)
        return moment.isoformat(timespec="microseconds") + "+00:00"
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def digest(onboarding_id: str, entry: AuditEntry, previous: str) -> str:
    """The digest of one row, given the previous row's digest (:data:`GENESIS` for the first)."""
    return row_digest(
        onboarding_id, entry.seq, entry.trigger, entry.from_state, entry.to_state, entry.actor,
        entry.at, entry.reason, entry.request_id, entry.details, entry.profile_id,
        entry.batch_id, previous,
    )  # fmt: skip


def row_digest(
    onboarding_id: str,
    seq: int,
    trigger: str,
    from_state: str | None,
    to_state: str,
    actor: str,
    at: datetime,
    reason: str | None,
    request_id: str | None,
    details: Mapping[str, Any] | None,
    profile_id: str | None,
    batch_id: str | None,
    previous: str,
) -> str:
    """The digest of one row from its column values (what :func:`digest` and the audit check
    both use, so a row read back hashes exactly as it was written).

    A naive ``at`` is taken as UTC: SQLite hands stored times back without their offset.
    """
    content: list[Any] = [
        onboarding_id, seq, trigger, from_state, to_state, actor, _when(at), reason,
        request_id, details, profile_id, batch_id, previous,
    ]  # fmt: skip
    canonical = _dumps(content)
    return sha256(canonical.encode()).hexdigest()


def chained(checkpoint: Checkpoint, entry: AuditEntry) -> AuditEntry:
    """``entry`` numbered after the checkpoint's last row and chained to it."""
    seq = checkpoint.audit_seq + 1
    numbered = dataclasses.replace(entry, seq=seq)
    previous = checkpoint.audit_head or GENESIS
    return dataclasses.replace(numbered, digest=digest(checkpoint.id, numbered, previous))
