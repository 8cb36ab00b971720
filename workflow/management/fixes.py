"""What fixes an onboarding paused with each code: the line ``stuck`` and ``show`` print.

:data:`FIXES` holds one :class:`Fix` per code the engine pauses with
(:data:`~workflow.engine.observing.ENGINE_PAUSE_CODES`) and per error code Sent documents
(:data:`~workflow.engine.observing.SENT_ERROR_CODES`); a test keeps the table equal to those lists,
so a new code cannot ship without its fix. :func:`fix_line` words it for one onboarding (the
per-key command) or for a whole group (the bulk command over ``--code``, as a dry run first).
Codes are compared without regard to case (Sent's are upper case; a person may type either).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from workflow.core.printable import duration

__all__ = ["FIXES", "MEANING", "Fix", "described", "fix", "fix_for", "fix_line", "summarized"]


@dataclass(frozen=True, slots=True)
class Fix:
    """What to do about one pause code.

    Attributes:
        action: the operator command that moves it on (``resume``, ``rewind``, ``amend``,
            ``cancel``), ``None`` when no command does by itself.
        first: what a person does before that command (empty: nothing).
        options: the command's options beside the key and reason (``--to pending``).
        means: what the code says happened, briefly.
    """

    action: str | None
    means: str
    first: str = ""
    options: str = ""


#: The fix for each known pause code.
FIXES: Final[dict[str, Fix]] = {
    # The engine's own codes.
    "COMMIT_FAILED": Fix(
        "resume",
        "the database refused to store a step's outcome",
        first="fix the database (the worker's log names the error), then",
    ),
    "COMPLETION_FAILED": Fix(
        "resume",
        "Sent's background processing failed (2026-10); the profile keeps its old status",
        first="fix what Sent's reason names (at Sent, or amend the spec), then",
    ),
    "COMPLETION_TIMEOUT": Fix(
        "resume", "Sent gave no completion result in time; a resume waits again"
    ),
    "FLOW_VERSION_UNKNOWN": Fix(
        None,
        "started under a flow this release does not run",
        first="run a worker of the release that started it (or cancel it)",
    ),
    "GUARD": Fix("amend", "the spec breaks a rule of the flow"),
    "OWNERSHIP_UNPROVEN": Fix(
        "resume",
        "something at Sent may be its own, and nothing proves it",
        first="a person decides ('onboarding show {key}' lists the candidates):",
        options="--adopt ID",
    ),
    "PREREQUISITES": Fix("amend", "the spec lacks what Sent needs before completion"),
    "REJECTED": Fix(
        "amend",
        "Sent rejected the profile: amend what its reason names, or cancel",
    ),
    "SECRET_UNAVAILABLE": Fix(
        "resume",
        "its payment details or WhatsApp token cannot be opened",
        first="restore the secret key (ONBOARDING_SECRET_KEY) or amend with the secrets, then",
    ),
    "SENT_ERROR": Fix(
        "resume", "Sent refused a call without a code", first="fix what the error says, then"
    ),
    "STEP_ERROR": Fix(
        "resume",
        "a step failed on an error of its own; the worker's log has it",
        first="upgrade or fix the cause, then",
    ),
    "UNEXPECTED_RESPONSE": Fix(
        "resume", "Sent answered in a way the engine does not read", first="check Sent, then"
    ),
    # Sent's documented codes (sent-api.md 2.6).
    "CONFLICT_012": Fix(
        "resume",
        "a number is still held on the WhatsApp account",
        first="remove the number at Sent, then",
    ),
    "CONFLICT_013": Fix("resume", "Sent could not read the WhatsApp account"),
    "INTERNAL_001": Fix("resume", "Sent failed on its side; 'show' gives its request id"),
    "RESOURCE_001": Fix("resume", "Sent could not find a resource", first="check Sent, then"),
    "RESOURCE_005": Fix(
        "resume",
        "Sent does not find the organization of the API key",
        first="fix the API key the workers use (SENT_DM_API_KEY), then",
    ),
    "RESOURCE_014": Fix(
        "rewind",
        "the profile is gone at Sent; a rewind creates a new one",
        options="--to pending",
    ),
    "VALIDATION_001": Fix("amend", "Sent refused a field of the spec, which 'show' names"),
}
_DEFAULT: Final = Fix(
    "resume",
    "paused",
    first="fix the cause 'onboarding show {key}' gives (amend, rewind or cancel otherwise), then",
)


def fix_for(code: str | None) -> Fix:
    """The fix of ``code`` (any case); ``VALIDATION_*`` codes are amended; others resumed."""
    found = FIXES.get((code or "").upper())
    if found is not None:
        return found
    if (code or "").upper().startswith("VALIDATION_"):
        return FIXES["VALIDATION_001"]
    return _DEFAULT


def fix_line(code: str | None, key: str | None = None) -> str:
    """The fix for one onboarding (``key``) or, with ``key=None``, for every onboarding paused
    with ``code``: the bulk command as a dry run (``--yes`` then acts), or for an action taken
    one at a time (amend, an adoption), the per-key command and where the keys are listed."""
    found = fix_for(code)
    name = "KEY" if key is None else shlex.quote(key)
    group = key is None and bool(code)
    listed = f" for each ('onboarding stuck --code {shlex.quote(code or '')}' lists them)"
    if found.action is None:
        return f"{found.first} ({found.means})"
    if code and code.upper() == "OWNERSHIP_UNPROVEN":
        command = (
            f"{found.first.replace('{key}', name)} 'onboarding resume {name} --reason WHY "
            "--adopt ID' if one is its own, '--create-new' if none"
        )
        return command + (listed.replace(" for each", ", for each") if group else "")
    if found.action == "amend":
        command = (
            f"'onboarding amend {name} FIXED.yaml --reason WHY', then "
            f"'onboarding resume {name} --reason WHY'"
        )
        return f"{command}{listed if group else ''} ({found.means})"
    lead = f"{found.first.replace('{key}', name)} " if found.first else ""
    options = f" {found.options}" if found.options else ""
    if group:
        command = (
            f"'onboarding {found.action} --code {shlex.quote(code or '')}{options} "
            "--reason WHY --dry-run', then again with --yes"
        )
    else:
        command = f"'onboarding {found.action} {name}{options} --reason WHY'"
    return f"{lead}{command} ({found.means})"


#: What each cause of being stuck means (``stuck``, the console's stuck page).
MEANING: Final = {
    "paused": "waiting for a person",
    "lease_expired": "the worker running them stopped heartbeating",
    "overdue": "due, and nobody runs them",
    "rate_limited": "waiting for a slot under Sent's rate limit (not an attempt)",
    "retrying": "failing, and retried on a schedule",
    "waiting": "no completion result from Sent yet",
}


def fix(cause: str, key: str, live_workers: int, code: str | None = None) -> str:
    """The command that fixes one onboarding stuck for ``cause`` (``KEY`` for a whole group)."""
    quoted = key if key == "KEY" else shlex.quote(key)
    if cause == "paused":
        return fix_line(code, None if key == "KEY" else key)
    if cause in ("lease_expired", "overdue") and live_workers == 0:
        return "onboarding worker (no worker is live; any worker takes expired leases over)"
    if cause == "lease_expired":
        return (
            "none needed: a live worker takes it over at its next claim (see 'onboarding workers')"
        )
    if cause == "overdue":
        return "more workers, or 'onboarding worker --concurrency N': the live ones are behind"
    if cause == "rate_limited":
        return "none needed: it calls Sent at its slot (ONBOARDING_RATE_LIMITS sets the pace)"
    if cause == "retrying":
        return f"onboarding retry {quoted} --reason WHY runs the step now (it retries by itself)"
    return f"onboarding retry {quoted} --reason WHY reads the result at Sent now"


def _reason(row: Mapping[str, Any], now: datetime, live_workers: int) -> str:
    error = row["last_error"] or {}
    cause = row["cause"]
    if cause == "paused":
        return str(error.get("reason") or error.get("message") or "paused without a reason")
    if cause == "retrying":
        return f"try {row['attempts']} failed: {error.get('message') or error.get('code') or ''}"
    if cause == "rate_limited":
        return f"waiting for a {row.get('code')} slot at Sent's rate limit"
    if cause == "lease_expired":
        return f"lease expired {duration((now - row['lease_expires_at']).total_seconds())} ago"
    if cause == "overdue":
        who = "no worker is live" if live_workers == 0 else f"{live_workers} live worker(s) behind"
        return f"due {duration((now - row['next_attempt_at']).total_seconds())} ago; {who}"
    return f"no completion result for {duration((now - row['since']).total_seconds())}"


def described(row: Mapping[str, Any], now: datetime, live_workers: int) -> dict[str, Any]:
    """A stuck row with its age, reason and fix."""
    return {
        **row,
        "age_seconds": max(0, int((now - row["since"]).total_seconds())),
        "reason": _reason(row, now, live_workers),
        "fix": fix(row["cause"], row["key"], live_workers, row.get("code")),
    }


def summarized(group: Mapping[str, Any], now: datetime, live_workers: int) -> dict[str, Any]:
    """A (cause, code) group with the age of its oldest and the fix."""
    return {
        **group,
        "oldest_since": group["oldest"],
        "oldest_age_seconds": max(0, int((now - group["oldest"]).total_seconds())),
        "fix": fix(group["cause"], "KEY", live_workers, group.get("code")),
    }
