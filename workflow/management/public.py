"""The CLI's public JSON: documented fields only, ``schema_version`` 1, times in UTC.

Every object printed by ``--json`` (and ``export``) carries ``"schema_version": 1`` and a
``kind``: ``onboarding``, ``transition``, ``attempt``, ``stuck``, ``stuck_group`` or ``worker``.
``docs/schema/<kind>.json`` describes each (JSON Schema 2020-12) and ``docs/json.md`` documents
each field. Times are ISO-8601 in UTC with the offset (``2026-05-01T12:00:00.123456+00:00``).

Internals (how the engine coordinates, not what happened) appear only with ``--internals``:
the lease, the fingerprint, the version, the audit head and digests. Within schema version 1
fields are only ever added; removing or renaming one makes version 2.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from workflow.core.clock import as_utc

__all__ = [
    "ATTEMPT",
    "ONBOARDING",
    "SCHEMA_VERSION",
    "TRANSITION",
    "attempt",
    "decode_cursor",
    "dumps",
    "encode_cursor",
    "onboarding",
    "stuck",
    "stuck_group",
    "transition",
    "utc",
    "worker",
    "write_lines",
]

SCHEMA_VERSION: Final = 1

ONBOARDING: Final = (
    "id", "key", "state", "paused_from", "profile_id", "generation", "flow_version", "sent_api",
    "attempts",
    "next_attempt_at", "step_started_at", "last_error", "predicted_outcome", "predicted_rule",
    "actual_outcome", "completion_deadline", "has_secrets", "created_by", "created_at",
    "updated_at", "finished_at",
)  # fmt: skip
ONBOARDING_INTERNALS: Final = (
    "fingerprint", "version", "audit_seq", "audit_head", "lease_owner", "lease_expires_at",
    "wake_on_callback",
)  # fmt: skip
TRANSITION: Final = (
    "onboarding_id", "key", "profile_id", "seq", "at", "trigger", "from_state", "to_state",
    "actor", "reason", "request_id", "details", "batch_id",
)  # fmt: skip
TRANSITION_INTERNALS: Final = ("digest",)
ATTEMPT: Final = (
    "onboarding_id", "key", "step", "item", "generation", "attempt", "method", "path", "at",
    "latency_ms", "outcome", "idempotency_key", "http_status", "error_code", "request_id",
    "message", "resource_id", "replayed",
)  # fmt: skip
STUCK: Final = (
    "cause", "code", "id", "key", "state", "paused_from", "profile_id", "attempts",
    "next_attempt_at", "since", "age_seconds", "reason", "last_error", "fix",
)  # fmt: skip
STUCK_INTERNALS: Final = ("lease_owner", "lease_expires_at")
BATCH: Final = (
    "id", "actor", "reason", "action", "selection", "matched", "changed", "skipped",
    "started_at", "finished_at",
)  # fmt: skip
WORKER: Final = (
    "id", "host", "pid", "version", "status", "started_at", "last_seen", "seen_seconds_ago",
    "stopped_at", "concurrency", "in_flight", "heartbeat_seconds",
)  # fmt: skip


def utc(value: datetime | None) -> str | None:
    """An aware time as ISO-8601 in UTC with the offset (``None`` stays ``None``)."""
    return None if value is None else as_utc(value).isoformat()


def _plain(value: Any) -> Any:
    return utc(value) if isinstance(value, datetime) else value


def _public(
    kind: str,
    row: Mapping[str, Any],
    fields: Sequence[str],
    internals: Sequence[str] = (),
) -> dict[str, Any]:
    shown = {"schema_version": SCHEMA_VERSION, "kind": kind}
    for name in (*fields, *internals):
        shown[name] = _plain(row.get(name))
    return shown


def onboarding(row: Mapping[str, Any], *, internals: bool = False) -> dict[str, Any]:
    """An onboarding's checkpoint (``show``, ``list``)."""
    return _public("onboarding", row, ONBOARDING, ONBOARDING_INTERNALS if internals else ())


def transition(row: Mapping[str, Any], *, internals: bool = False) -> dict[str, Any]:
    """One row of the audit log (``history``, ``export``), with the profile id it had then."""
    return _public("transition", row, TRANSITION, TRANSITION_INTERNALS if internals else ())


def attempt(row: Mapping[str, Any]) -> dict[str, Any]:
    """One API call a step made (``history --attempts``, ``export --attempts``)."""
    return _public("attempt", row, ATTEMPT)


def stuck(row: Mapping[str, Any], *, internals: bool = False) -> dict[str, Any]:
    """One onboarding that needs a person, with why, since when and the command that fixes it."""
    return _public("stuck", row, STUCK, STUCK_INTERNALS if internals else ())


def stuck_group(row: Mapping[str, Any]) -> dict[str, Any]:
    """How many onboardings are stuck for one cause and code (``stuck --summary``)."""
    fields = ("cause", "code", "count", "oldest_since", "oldest_age_seconds", "fix")
    return _public("stuck_group", row, fields)


def batch(row: Mapping[str, Any]) -> dict[str, Any]:
    """One bulk action (``batches``)."""
    return _public("batch", row, BATCH)


def worker(row: Mapping[str, Any]) -> dict[str, Any]:
    """One worker process and its last heartbeat (``workers``)."""
    return _public("worker", row, WORKER)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_cursor(row: dict[str, Any]) -> str:
    """The opaque position after ``row`` in ``list`` order: base64 of (created_at, id).

    The usual id (32 hex digits) is packed with the time in microseconds: 32 characters, so
    the next page's command fits an 80-column line. Any other id goes as JSON text.
    """
    onboarding_id = row["id"]
    at = row["created_at"]
    at = as_utc(at)
    micros = (at - _EPOCH) // timedelta(microseconds=1)
    if len(onboarding_id) == 32 and all(c in "0123456789abcdef" for c in onboarding_id):
        raw = micros.to_bytes(8, "big", signed=True) + bytes.fromhex(onboarding_id)
    else:
        raw = json.dumps([utc(at), onboarding_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str | None) -> tuple[datetime, str] | None:
    """The position an :func:`encode_cursor` value names.

    Raises:
        ValueError: not a cursor printed by ``onboarding list``.
    """
    if value is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        if len(raw) == 24:
            micros = int.from_bytes(raw[:8], "big", signed=True)
            at = (_EPOCH + timedelta(microseconds=micros)).isoformat()
            onboarding_id = raw[8:].hex()
        else:
            at, onboarding_id = json.loads(raw)
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or not isinstance(onboarding_id, str):
            raise ValueError(value)
        moment = as_utc(moment)  # a time past the last one there is: OverflowError
        if not (onboarding_id.isascii() and onboarding_id.isprintable()) or len(onboarding_id) > 64:
            raise ValueError(value)  # ids are short ASCII; a NUL or a surrogate cannot be sent
    except (ValueError, TypeError, OverflowError, binascii.Error):
        raise ValueError(
            f"{value!r} is not a cursor printed by 'onboarding list' (copy it whole)"
        ) from None
    return moment, onboarding_id


def dumps(value: Mapping[str, Any]) -> str:
    """One JSON Lines line (ASCII, so any terminal or pipe takes it)."""
    return json.dumps(value, separators=(",", ":"))


def write_lines(lines: Iterable[str]) -> None:
    """Write lines to stdout as they come, so a stream of any length keeps memory flat.

    A reader that stops early (``| head``) ends the command quietly with exit code 1.
    """
    import os

    try:
        write = sys.stdout.write
        for line in lines:
            write(line)
            write("\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # Python's documented recipe: point stdout at devnull so the exit flush cannot fail.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(1) from None
