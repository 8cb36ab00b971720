"""The audit log's hash chain: each transition row is tied to the row before it.

A row's ``digest`` is SHA-256 over a canonical JSON of its content (onboarding, sequence number,
trigger, states, actor, time, reason, request id, details, profile id, batch id) and the previous
row's digest, so editing any field of any row, deleting a row, or reordering rows breaks every
digest after it. Writers compute it from the checkpoint they hold (its ``audit_seq`` and
``audit_head``); the version check makes sure nobody appended in between.

Anyone who can write the database can also recompute every digest, so each chain head is also
*anchored*: the checkpoint's ``audit_anchor`` is an HMAC-SHA256, under a key kept outside the
database, over the onboarding's id, the head's ``seq`` and digest, and the anchor before it
(:func:`anchor`). The anchors form a chain of their own, from ``""`` before the first row: a
writer without the key cannot rewrite a row and recompute what follows, cannot cut the end of a
log back to an earlier head (whose anchor no longer exists anywhere), and a writer with the key
who appends after such a rewrite chains its anchor to the anchor it found, so verification
still fails. The key is derived from the secret key (see :mod:`workflow.adapters.vault`).
"""

from __future__ import annotations

import dataclasses
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from hashlib import sha256
from typing import Any, Final

from workflow.core.clock import as_utc
from workflow.ports import Anchoring, AuditEntry, Checkpoint

__all__ = [
    "ANCHOR_START",
    "GENESIS",
    "AnchorKey",
    "anchor",
    "canonical",
    "canonical_time",
    "chained",
    "digest",
    "row_digest",
]

#: The "previous digest" of an onboarding's first row.
GENESIS: Final = "0" * 64
#: The "previous anchor" of an onboarding's first row.
ANCHOR_START: Final = ""

# The canonical form: keys sorted, no spaces; anything JSON lacks (a Decimal, say) as its str().
# One encoder for every row (``json.dumps`` with options builds a new one per call).
_dumps: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode
#: A string as ``_dumps`` writes it (quoted, escaped, ASCII).
_string: Final = json.encoder.encode_basestring_ascii


def canonical(value: Any) -> str:
    """``value`` in the canonical JSON the digests are computed over."""
    return _dumps(value)


def canonical_time(moment: datetime) -> str:
    """A row's time as its digest covers it: ISO-8601 in UTC, microseconds, ``+00:00``."""
    return _when(moment)


def _when(moment: datetime) -> str:
    return as_utc(moment).isoformat(timespec="microseconds")


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


def anchor(key: bytes, onboarding_id: str, seq: int, head: str, previous: str) -> str:
    """The anchor of one chain head: HMAC-SHA256 (hex) under ``key`` over the canonical JSON of
    ``[onboarding_id, seq, head, previous]``, ``previous`` being the anchor of the head before
    (:data:`ANCHOR_START` for the first row)."""
    return hmac.digest(key, _anchor_message(onboarding_id, seq, head, previous), "sha256").hex()


def _anchor_message(onboarding_id: str, seq: int, head: str, previous: str) -> bytes:
    # What _dumps gives for that list, built from the encoder's own string function (C):
    # verifying computes one anchor per row, and the general encoder costs several times this.
    return f"[{_string(onboarding_id)},{int(seq)},{_string(head)},{_string(previous)}]".encode()


class AnchorKey:
    """An anchoring key: :meth:`anchor` is :func:`anchor` under it.

    HMAC (RFC 2104) with the key's inner and outer SHA-256 states computed once: verifying
    computes one anchor per row, and a one-shot HMAC sets the key up every time (three times
    the cost of the hashing itself).
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if not 32 <= len(key) <= 64:
            raise ValueError("an anchoring key has 32 to 64 bytes")
        block = key.ljust(64, b"\0")
        self._inner = sha256(bytes(byte ^ 0x36 for byte in block))
        self._outer = sha256(bytes(byte ^ 0x5C for byte in block))

    def anchor(self, onboarding_id: str, seq: int, head: str, previous: str) -> str:
        """The anchor of the head ``(onboarding_id, seq, head)`` after ``previous``."""
        inner = self._inner.copy()
        inner.update(_anchor_message(onboarding_id, seq, head, previous))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def chained(checkpoint: Checkpoint, entry: AuditEntry, anchoring: Anchoring) -> AuditEntry:
    """``entry`` numbered after the checkpoint's last row, chained to it, and its head anchored
    after the checkpoint's anchor (``anchoring`` holds the key: the vault)."""
    seq = checkpoint.audit_seq + 1
    numbered = dataclasses.replace(entry, seq=seq)
    previous = checkpoint.audit_head or GENESIS
    head = digest(checkpoint.id, numbered, previous)
    return dataclasses.replace(
        numbered,
        digest=head,
        anchor=anchoring.anchor(checkpoint.id, seq, head, checkpoint.audit_anchor),
    )
