"""Never adopt, change or delete what another onboarding owns.

Onboarding A completes; a second onboarding with the same profile content (another key) has
its create answered 503 without being applied until its retries run out. Whatever an operator
does next (amend, rewind, wait a day, cancel with --delete-at-sent), A's profile at Sent is
never adopted, PATCHed or deleted, and what may be the second onboarding's but is not proven
is listed for a person. The sandbox runs on the engine's fake clock, so Sent's ``created_at``
and the attempts' times are comparable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Harness
from tests.ownership_helpers import (
    CAMPAIGN_POST,
    PROFILE_POST,
    calls_on,
    cli,
    executed,
    fail_creates,
    heal,
    live_profiles,
    profile_at_sent,
    same_content,
    shown,
)
from workflow.core.clock import FakeClock
from workflow.sandbox import Sandbox


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[Sandbox]:
    """The sandbox on the engine's clock (its ``created_at`` and 24 h key window follow it)."""
    box = Sandbox(clock=clock)
    yield box
    box.close()


def _completed_owner(harness: Harness, raw: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Onboarding 'owner-a' run to its end; its profile as Sent holds it."""
    owner = harness.start(same_content(raw, "owner-a"))
    harness.run()
    row = harness.store.get(owner)
    assert row.state in ("completed", "submitted"), (row.state, row.last_error)
    return owner, profile_at_sent(harness, row.profile_id)


def _paused_in_create(
    harness: Harness, raw: dict[str, Any], key: str, *, lost_first: bool = False
) -> str:
    """An onboarding with the same content whose profile creates all failed (503, or a lost
    reply first), paused with its retries spent."""
    fail_creates(harness, PROFILE_POST, lost_first=lost_first)
    onboarding = harness.start(same_content(raw, key))
    harness.run()
    row = harness.store.get(onboarding)
    assert (row.state, row.paused_from) == ("needs_attention", "pending"), row.last_error
    assert row.last_error is not None
    assert row.last_error["attempts"] == harness.executor.config.retry.max_attempts
    heal(harness)
    return onboarding


def _untouched(harness: Harness, before: dict[str, Any]) -> None:
    """The profile is exactly as it was: not deleted, not changed, no call named it since."""
    after = profile_at_sent(harness, before["id"])
    assert after == before


def _candidates(harness: Harness, onboarding: str) -> list[dict[str, Any]]:
    row = harness.store.get(onboarding)
    assert (row.state, (row.last_error or {}).get("code")) == (
        "needs_attention", "OWNERSHIP_UNPROVEN"
    ), row.last_error  # fmt: skip
    candidates: list[dict[str, Any]] = row.last_error["candidates"]  # type: ignore[index]
    return candidates


def _own_profile(harness: Harness, onboarding: str, owner_profile: str) -> dict[str, Any]:
    """The onboarding ended with a profile of its own, the only one it made at Sent."""
    row = harness.store.get(onboarding)
    assert row.state in ("completed", "submitted"), (row.state, row.last_error)
    assert row.profile_id not in (None, owner_profile)
    assert shown(harness, onboarding)["profiles_at_sent"] == [row.profile_id]
    return profile_at_sent(harness, row.profile_id)


def test_amending_a_create_that_may_not_have_resolved_never_adopts_another_profile(
    harness: Harness, samples: dict[str, Any], tmp_path: Path
) -> None:
    """The billing phone amended while the create's outcome is unknown: the amend is refused
    (one line saying to resume first), the resume creates the onboarding's own profile under
    its key, and A's profile is never adopted or PATCHed."""
    raw = samples["demo-own-brand-tcr"]
    _, before = _completed_owner(harness, raw)
    second = _paused_in_create(harness, raw, "second-b")
    fixed = same_content(raw, "second-b")
    fixed["profile"]["billing_contact"]["phone"] = "+12025550199"
    spec_file = tmp_path / "fixed.json"
    spec_file.write_text(json.dumps(fixed))
    spec_before = harness.store.get(second).spec

    amended = cli(harness, "amend", "second-b", str(spec_file), "--reason", "new phone")
    assert amended.exit_code == 1
    assert "Traceback" not in amended.output
    line = amended.output.strip().splitlines()[-1]
    assert line.startswith("error: 'onboarding amend' refused: the create of profile of")
    assert "resume it first ('onboarding resume second-b --reason ...')" in line
    assert harness.store.get(second).spec == spec_before
    assert [t.trigger for t in harness.store.history(second)] == ["start", "pause"]

    harness.ops.resume(second, actor="ops", reason="Sent is back")
    harness.run()
    _own_profile(harness, second, before["id"])
    _untouched(harness, before)
    assert len(live_profiles(harness)) == 2
    assert executed(harness, "create_profile") == 2


def test_a_rewind_after_an_unresolved_create_lists_the_other_profile_and_never_adopts_it(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """rewind --to pending after the creates failed: Sent holds A's profile with the same
    content, held by A, so the onboarding pauses with OWNERSHIP_UNPROVEN listing it (never
    adopted, PATCHed or listed for campaigns); --create-new then makes its own."""
    raw = samples["demo-own-brand-tcr"]
    owner, before = _completed_owner(harness, raw)
    second = _paused_in_create(harness, raw, "second-b")
    rewound = cli(harness, "rewind", "second-b", "--to", "pending", "--reason", "again")
    assert rewound.exit_code == 0, rewound.output
    harness.run()

    (candidate,) = _candidates(harness, second)
    assert candidate["id"] == before["id"]
    assert candidate["proven"] is False
    assert candidate["why"] == f"held by onboarding 'owner-a' ({owner})"
    assert candidate["created_at"] == before["created_at"]
    _untouched(harness, before)
    assert calls_on(before)["update_profile"] > 0  # A's own calls are what the check compares

    decided = cli(harness, "resume", "second-b", "--create-new", "--reason", "not ours")
    assert decided.exit_code == 0, decided.output
    harness.run()
    _own_profile(harness, second, before["id"])
    _untouched(harness, before)
    resume = [t for t in harness.store.history(second) if t.trigger == "resume"][-1]
    assert resume.details == {"create_new": True, "dismissed": [before["id"]], "item": "profile"}
    assert len(live_profiles(harness)) == 2


def test_a_day_later_an_unresolved_create_is_judged_by_its_own_attempts(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """23 hours after the creates failed, a resume reads Sent first (its key may be forgotten):
    A's profile is listed, not adopted; a person cannot adopt it either (held by A)."""
    raw = samples["demo-own-brand-tcr"]
    owner, before = _completed_owner(harness, raw)
    second = _paused_in_create(harness, raw, "second-b")
    harness.clock.advance(23 * 3600)
    harness.ops.resume(second, actor="ops", reason="a day later")
    harness.run()

    (candidate,) = _candidates(harness, second)
    assert (candidate["id"], candidate["proven"]) == (before["id"], False)
    listed = shown(harness, "second-b")["last_error"]
    assert listed["candidates"] == [candidate]
    assert before["id"] in listed["reason"]
    assert "--create-new" in listed["reason"]
    stuck = [json.loads(line) for line in cli(harness, "stuck", "--json").output.splitlines()]
    (fix,) = [row["fix"] for row in stuck if row.get("key") == "second-b"]
    assert "'onboarding resume second-b --reason WHY --adopt ID'" in fix
    _untouched(harness, before)

    refused = cli(harness, "resume", "second-b", "--adopt", before["id"], "--reason", "mine")
    assert refused.exit_code == 1
    assert f"held by onboarding 'owner-a' ({owner}): never adopted" in refused.output
    assert harness.store.get(second).state == "needs_attention"

    assert cli(harness, "resume", "second-b", "--create-new", "--reason", "none").exit_code == 0
    harness.run()
    _own_profile(harness, second, before["id"])
    _untouched(harness, before)


def test_a_day_later_the_profile_its_lost_reply_made_is_adopted_when_proven(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Alone at Sent: the profile a lost reply made (created in the window of the attempts,
    with their content, held by nobody) is adopted after 23 hours, and no second is created."""
    raw = samples["demo-own-brand-tcr"]
    onboarding = _paused_in_create(harness, raw, "lonely", lost_first=True)
    (made,) = live_profiles(harness)
    harness.clock.advance(23 * 3600)
    harness.ops.resume(onboarding, actor="ops", reason="a day later")
    harness.run()
    row = harness.store.get(onboarding)
    assert row.state == "submitted", row.last_error
    assert row.profile_id == made["id"]
    assert [p["id"] for p in live_profiles(harness)] == [made["id"]]
    assert executed(harness, "create_profile") == 1
    assert harness.store.resource_ids(onboarding, "create_profile") == [made["id"]]
    created = next(t for t in harness.store.history(onboarding) if t.trigger == "create_profile")
    assert created.details is not None
    assert (created.details["reconciled"], created.details["proof"]) == (True, "window")


def test_a_proven_profile_beside_another_onboardings_is_listed_and_a_person_adopts_it(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """The lost reply's profile and A's (same content) are both at Sent: not exactly one
    candidate, so nothing is adopted until a person picks the proven one with --adopt."""
    raw = samples["demo-own-brand-tcr"]
    _, before = _completed_owner(harness, raw)
    second = _paused_in_create(harness, raw, "second-b", lost_first=True)
    (made,) = [p for p in live_profiles(harness) if p["id"] != before["id"]]
    harness.clock.advance(23 * 3600)
    harness.ops.resume(second, actor="ops", reason="a day later")
    harness.run()
    candidates = {c["id"]: c["proven"] for c in _candidates(harness, second)}
    assert candidates == {before["id"]: False, made["id"]: True}
    _untouched(harness, before)

    adopted = cli(harness, "resume", "second-b", "--adopt", made["id"], "--reason", "ours")
    assert adopted.exit_code == 0, adopted.output
    harness.run()
    assert _own_profile(harness, second, before["id"])["id"] == made["id"]
    _untouched(harness, before)
    assert executed(harness, "create_profile") == 2
    created = next(t for t in harness.store.history(second) if t.trigger == "create_profile")
    assert created.details is not None
    assert (created.details["proof"], created.details["chosen_by"]) == ("chosen", "operator")


def test_cancel_with_delete_at_sent_never_deletes_another_onboardings_profile(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """cancel --delete-at-sent of an onboarding whose creates failed: A's profile (same content)
    is not proven its own, so it is left alone and listed; the cancel ends."""
    raw = samples["demo-own-brand-tcr"]
    owner, before = _completed_owner(harness, raw)
    doomed = _paused_in_create(harness, raw, "third-c")
    cancelled = cli(harness, "cancel", "third-c", "--delete-at-sent", "--reason", "give up")
    assert cancelled.exit_code == 0, cancelled.output
    harness.run()
    assert harness.store.get(doomed).state == "cancelled"
    assert harness.store.get(owner).state in ("completed", "submitted")
    _untouched(harness, before)
    assert calls_on(before)["delete_profile"] == 0
    deleted = next(t for t in harness.store.history(doomed) if t.trigger == "delete_profile")
    assert deleted.details is not None
    assert (deleted.details["deleted"], deleted.details["already_gone"]) == ([], [])
    [listed] = deleted.details["not_proven"]
    assert (listed["id"], listed["proven"]) == (before["id"], False)
    assert listed["why"] == f"held by onboarding 'owner-a' ({owner})"


def test_cancel_with_delete_at_sent_deletes_the_profile_its_lost_reply_made(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Alone at Sent, the profile a lost reply made is proven its own: deleted at Sent."""
    raw = samples["demo-inherited"]
    doomed = _paused_in_create(harness, raw, "third-c", lost_first=True)
    (made,) = live_profiles(harness)
    harness.ops.cancel(doomed, actor="ops", reason="give up", delete_at_sent=True)
    harness.run()
    assert harness.store.get(doomed).state == "cancelled"
    assert profile_at_sent(harness, made["id"])["deleted"] is True
    deleted = next(t for t in harness.store.history(doomed) if t.trigger == "delete_profile")
    assert deleted.details == {"deleted": [made["id"]], "already_gone": []}


def test_a_campaign_someone_else_made_beside_the_lost_one_is_listed_and_never_adopted(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """A campaign POST applied with its reply lost, retries spent; meanwhile a person adds a
    campaign of their own to the profile at Sent. After a rewind, two campaigns could be the
    item's (the lost one proven, the other with other content): nothing is adopted until a
    person picks one, and the other is never touched."""
    raw = same_content(samples["demo-own-brand-tcr"], "campaigner")
    fail_creates(harness, CAMPAIGN_POST, lost_first=True)
    onboarding = harness.start(raw)
    harness.run()
    assert harness.store.get(onboarding).paused_from == "brand"
    heal(harness)
    profile_id = harness.store.get(onboarding).profile_id
    assert profile_id is not None
    (lost,) = profile_at_sent(harness, profile_id)["own_campaigns"]
    theirs = {**raw["campaigns"][0], "name": "A person's own campaign"}
    made = harness.api.create_campaign(profile_id, theirs, idempotency_key="by-a-person-1")

    harness.ops.rewind(onboarding, "incomplete", actor="ops", reason="brand again")
    harness.run()
    candidates = {c["id"]: (c["proven"], c["why"]) for c in _candidates(harness, onboarding)}
    assert candidates[lost["id"]][0] is True
    assert candidates[made.data.id] == (
        False, "created while a create of this onboarding was unresolved, with other content"
    )  # fmt: skip
    assert harness.store.get(onboarding).last_error["item"] == "campaign-0"  # type: ignore[index]

    harness.ops.resume(onboarding, actor="ops", reason="the lost one", adopt=lost["id"])
    harness.run()
    row = harness.store.get(onboarding)
    assert row.state == "submitted", row.last_error
    campaigns = {c["id"]: c["name"] for c in profile_at_sent(harness, profile_id)["own_campaigns"]}
    assert campaigns == {lost["id"]: lost["name"], made.data.id: "A person's own campaign"}
    attached = next(t for t in harness.store.history(onboarding) if t.trigger == "attach_campaigns")
    assert attached.details is not None
    assert attached.details["campaign_ids"] == {"0": lost["id"]}
    assert executed(harness, "create_campaign") == 2  # the lost one and the person's
