"""The ownership rule as pure functions: what an onboarding's own attempts prove at Sent.

Expected values are written from the rule (an id answered, or held by nobody, created within
the attempts' window with their content), never computed by the code under test.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from workflow.ports import AttemptRecord, Holder
from workflow.ports.sent_models import ProfileDetail
from workflow.steps.lookup import profile_digest
from workflow.steps.ownership import Candidate, Found, Verdict, judge, unresolved

SENT_AT = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
OURS = "a" * 64
OTHER = "b" * 64
ME = "me0000"


def _attempt(
    at: datetime = SENT_AT, *, key: str = "k-0", outcome: str = "retry", digest: str = OURS,
    resource_id: str | None = None, latency_ms: float = 2000.0,
) -> AttemptRecord:  # fmt: skip
    return AttemptRecord(
        "create_profile", 1, "POST", "/v3/profiles", at, latency_ms, outcome, key,
        item="profile", resource_id=resource_id, content_digest=digest,
    )  # fmt: skip


def _found(resource_id: str, minutes: float, digest: str = OURS) -> Found:
    return Found(resource_id, SENT_AT + timedelta(minutes=minutes), digest)


def test_the_content_digest_covers_name_short_name_and_description_only() -> None:
    """A create's body and Sent's reply for it give the same digest: SHA-256 of the canonical
    JSON of the three fields (secrets and everything else left out)."""
    body = {
        "name": "Sales Team", "short_name": "SALES", "description": "Sales profile",
        "payment_details": {"card_number": "4242424242424242"}, "billing_model": "profile",
    }  # fmt: skip
    canonical = b'{"description":"Sales profile","name":"Sales Team","short_name":"SALES"}'
    assert profile_digest(body) == hashlib.sha256(canonical).hexdigest()
    reply = ProfileDetail.model_validate(
        {"id": "p", "name": "Sales Team", "short_name": "SALES", "description": "Sales profile"}
    )
    assert profile_digest(reply) == hashlib.sha256(canonical).hexdigest()


def test_only_failed_attempts_under_a_key_no_reply_named_are_unresolved() -> None:
    """A retryable failure is unresolved until a reply names a resource for its key; a refusal
    (nothing applied) never is."""
    lost = _attempt(key="k-0")
    settled = _attempt(key="k-1")
    named = _attempt(key="k-1", outcome="ok", resource_id="p-1")
    refused = _attempt(key="k-2", outcome="failed")
    assert unresolved([lost, settled, named, refused]) == [lost]


def test_one_candidate_held_by_nobody_in_the_window_with_the_content_is_adopted() -> None:
    """The only candidate, proven: adopted by the window rule."""
    verdict = judge([_found("p-1", 1)], [_attempt()], {}, onboarding_id=ME)
    assert (verdict.adopt, verdict.proof, verdict.unproven) == ("p-1", "window", False)


def test_the_window_runs_from_the_first_send_to_the_last_reply_with_five_minutes_slack() -> None:
    """First send minus 5 minutes .. last send plus its latency plus 5 minutes, inclusive."""
    attempts = [_attempt(), _attempt(SENT_AT + timedelta(minutes=30), latency_ms=60_000)]
    inside = [_found("early", -5), _found("late", 30 + 1 + 5)]
    outside = [_found("too-early", -5 - 1 / 60), _found("too-late", 30 + 1 + 5 + 1 / 60)]
    for found in inside:
        assert judge([found], attempts, {}, onboarding_id=ME).adopt == found.id
    for found in outside:
        verdict = judge([found], attempts, {}, onboarding_id=ME)
        assert verdict.adopt is None
        (candidate,) = verdict.candidates
        assert candidate.why == (
            "created outside the window of this onboarding's attempts with its content "
            "(2026-05-01T08:55:00+00:00 .. 2026-05-01T09:36:00+00:00)"
        )


def test_what_is_not_proven_is_listed_with_the_reason_and_never_adopted() -> None:
    """Held by another onboarding or by this one elsewhere, created at an unknown time, or
    created in the window with other content: each listed, not proven, nothing adopted."""
    found = [
        _found("theirs", 1),
        _found("mine-elsewhere", 1),
        Found("timeless", None, OURS),
        _found("other-content", 2, OTHER),
    ]
    holders = {"theirs": [Holder("a1", "owner-a")], "mine-elsewhere": [Holder(ME, "me")]}
    verdict = judge(found, [_attempt()], holders, onboarding_id=ME)
    assert verdict == Verdict(
        None,
        None,
        (
            Candidate("theirs", SENT_AT + timedelta(minutes=1), False,
                      "held by onboarding 'owner-a' (a1)"),
            Candidate("mine-elsewhere", SENT_AT + timedelta(minutes=1), False,
                      "held by this onboarding for another item or an earlier generation"),
            Candidate("timeless", None, False, "Sent gave no creation time"),
            Candidate("other-content", SENT_AT + timedelta(minutes=2), False,
                      "created while a create of this onboarding was unresolved, with other "
                      "content"),
        ),
    )  # fmt: skip
    assert verdict.unproven


def test_a_proven_candidate_beside_another_is_not_adopted() -> None:
    """Two candidates (both proven, or one proven beside one held by another onboarding):
    nothing is adopted, both are listed."""
    two_proven = judge([_found("p-1", 1), _found("p-2", 2)], [_attempt()], {}, onboarding_id=ME)
    assert (two_proven.adopt, [c.proven for c in two_proven.candidates]) == (None, [True, True])
    beside = judge(
        [_found("p-1", 1), _found("theirs", -60 * 24)], [_attempt()],
        {"theirs": [Holder("a1", "owner-a")]}, onboarding_id=ME,
    )  # fmt: skip
    assert (beside.adopt, [c.id for c in beside.candidates]) == (None, ["p-1", "theirs"])


def test_other_content_made_by_someone_else_or_at_another_time_is_no_candidate() -> None:
    """Other content held by an onboarding, or created outside the window, says nothing about
    this onboarding's attempts; a dismissed candidate is never considered again."""
    found = [_found("theirs", 1, OTHER), _found("old", -60, OTHER), _found("dismissed", 1)]
    verdict = judge(
        found, [_attempt()], {"theirs": [Holder("a1", "owner-a")]}, onboarding_id=ME,
        dismissed=["dismissed"],
    )  # fmt: skip
    assert verdict == Verdict()


def test_without_an_unresolved_attempt_nothing_is_a_candidate() -> None:
    """Every attempt settled by a named reply (or none made): nothing at Sent can be a lost
    reply's, whatever its content."""
    attempts = [_attempt(), _attempt(outcome="ok", resource_id="p-1")]
    assert judge([_found("p-2", 1)], attempts, {}, onboarding_id=ME) == Verdict()
    assert judge([_found("p-2", 1)], [], {}, onboarding_id=ME) == Verdict()
