"""Whether a profile or campaign at Sent is this onboarding's own: the rule, as pure functions.

A resource is an onboarding's own only when its own attempts prove it:

* **answered**: Sent named its id in a reply to one of the onboarding's requests (an attempt's
  ``resource_id``, kept even when the commit after it was refused, or a step record's output),
  which includes a replay of one of its Idempotency-Keys; or
* **the window**: it is held by no onboarding of this database, it was created within the
  window of this onboarding's unresolved create attempts (the first such send minus
  :data:`CLOCK_SLACK` to the last one's reply plus :data:`CLOCK_SLACK`), and it has the content
  one of those attempts sent (:func:`content_digest` of its non-secret fields).

An attempt is unresolved when it may have been applied without anyone seeing the reply (a
retryable failure: a 5xx, a timeout, a lost reply) and no reply ever named a resource for its
Idempotency-Key (Sent applies a key once, so one named reply settles every attempt under it).

Exactly one candidate, and it proven, may be adopted. Anything else (several candidates, one
held by another onboarding, one created outside the window, one with other content) is listed
for a person, never adopted, changed or deleted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from workflow.ports import AttemptRecord, Holder

__all__ = [
    "CAMPAIGN_FIELDS",
    "CLOCK_SLACK",
    "OWNERSHIP_UNPROVEN",
    "PROFILE_FIELDS",
    "Candidate",
    "Found",
    "Verdict",
    "content_digest",
    "judge",
    "unresolved",
]

#: The pause code when something at Sent may be an onboarding's and nothing proves it.
OWNERSHIP_UNPROVEN: Final = "OWNERSHIP_UNPROVEN"
#: How far Sent's clock and ours may disagree, on either side of a window.
CLOCK_SLACK: Final = timedelta(minutes=5)
#: The non-secret content of a profile create that Sent answers back.
PROFILE_FIELDS: Final = ("name", "short_name", "description")
#: The content of a campaign create that Sent answers back.
CAMPAIGN_FIELDS: Final = ("name", "description", "type")


def content_digest(source: Mapping[str, Any] | object, fields: Sequence[str]) -> str:
    """A digest of ``fields`` of a request body (a mapping) or of a reply's model.

    Only the named fields count; they are never secrets.
    """
    if isinstance(source, Mapping):
        values = {name: source.get(name) for name in fields}
    else:
        values = {name: getattr(source, name, None) for name in fields}
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Found:
    """A resource at Sent as a lookup sees it."""

    id: str
    created_at: datetime | None
    digest: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """A resource that may be this onboarding's, and why it is (or is not) proven."""

    id: str
    created_at: datetime | None
    proven: bool
    why: str

    def as_details(self) -> dict[str, Any]:
        """JSON-ready, for ``last_error`` and the audit log."""
        created = self.created_at.isoformat() if self.created_at is not None else None
        return {"id": self.id, "created_at": created, "proven": self.proven, "why": self.why}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a lookup concluded: adopt one resource, or list candidates for a person."""

    adopt: str | None = None
    proof: str | None = None
    candidates: tuple[Candidate, ...] = ()

    @property
    def unproven(self) -> bool:
        """Something may be this onboarding's, and nothing is proven: a person decides."""
        return self.adopt is None and bool(self.candidates)


def unresolved(attempts: Sequence[AttemptRecord]) -> list[AttemptRecord]:
    """The create attempts that may have made something no reply named."""
    settled = {a.idempotency_key for a in attempts if a.resource_id is not None}
    return [
        a
        for a in attempts
        if a.outcome == "retry"
        and a.idempotency_key is not None
        and a.idempotency_key not in settled
        and a.content_digest is not None
    ]


def _windows(attempts: Sequence[AttemptRecord]) -> dict[str, tuple[datetime, datetime]]:
    """Per content digest: from the first send to the last reply, with the slack either side."""
    windows: dict[str, tuple[datetime, datetime]] = {}
    for attempt in attempts:
        assert attempt.content_digest is not None
        start = attempt.at - CLOCK_SLACK
        end = attempt.at + timedelta(milliseconds=attempt.latency_ms) + CLOCK_SLACK
        earlier = windows.get(attempt.content_digest)
        if earlier is not None:
            start, end = min(start, earlier[0]), max(end, earlier[1])
        windows[attempt.content_digest] = (start, end)
    return windows


def _within(moment: datetime | None, window: tuple[datetime, datetime]) -> bool:
    return moment is not None and window[0] <= moment <= window[1]


def _held(holders: Sequence[Holder], onboarding_id: str) -> str:
    others = [h for h in holders if h.onboarding_id != onboarding_id]
    if not others:
        return "held by this onboarding for another item or an earlier generation"
    named = ", ".join(f"{h.key!r} ({h.onboarding_id})" for h in others)
    return f"held by onboarding {named}"


def _candidate(
    found: Found,
    window: tuple[datetime, datetime] | None,
    holders: Sequence[Holder],
    onboarding_id: str,
) -> Candidate:
    if holders:
        return Candidate(found.id, found.created_at, False, _held(holders, onboarding_id))
    if window is None:
        why = "created while a create of this onboarding was unresolved, with other content"
        return Candidate(found.id, found.created_at, False, why)
    if found.created_at is None:
        return Candidate(found.id, None, False, "Sent gave no creation time")
    span = f"{window[0].isoformat()} .. {window[1].isoformat()}"
    if not _within(found.created_at, window):
        why = f"created outside the window of this onboarding's attempts with its content ({span})"
        return Candidate(found.id, found.created_at, False, why)
    why = (
        f"created within the window of this onboarding's attempts with its content ({span}), "
        "held by no onboarding"
    )
    return Candidate(found.id, found.created_at, True, why)


def judge(
    found: Sequence[Found],
    attempts: Sequence[AttemptRecord],
    holders: Mapping[str, Sequence[Holder]],
    *,
    onboarding_id: str,
    dismissed: Collection[str] = (),
) -> Verdict:
    """Which of ``found`` (resources at Sent no reply named for this item) the unresolved
    ``attempts`` may have made, and whether exactly one is proven.

    A resource is a candidate when it has the content of an unresolved attempt, or when it was
    created within their window and nobody holds it; ``dismissed`` ones (a person said they
    are not this onboarding's) are left out.
    """
    uncertain = unresolved(attempts)
    if not uncertain:
        return Verdict()
    windows = _windows(uncertain)
    overall = (min(w[0] for w in windows.values()), max(w[1] for w in windows.values()))
    candidates = []
    for resource in found:
        if resource.id in dismissed:
            continue
        held = holders.get(resource.id, ())
        window = windows.get(resource.digest)
        if window is None and (held or not _within(resource.created_at, overall)):
            continue  # other content, and made by someone else or at another time
        candidates.append(_candidate(resource, window, held, onboarding_id))
    if len(candidates) == 1 and candidates[0].proven:
        return Verdict(candidates[0].id, "window", tuple(candidates))
    return Verdict(candidates=tuple(candidates))
