"""Correcting an onboarding: amend, and messages that say what works."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import CARD_NUMBER, Harness
from workflow.adapters.vault import FernetVault
from workflow.core.errors import SpecConflictError
from workflow.core.spec import parse_spec
from workflow.sandbox import OrganizationConfig


def _spec(harness: Harness, raw: dict[str, Any]) -> Any:
    return parse_spec(raw, today=harness.clock.now().date())


def test_a_conflicting_start_names_what_works(harness: Harness, samples: dict[str, Any]) -> None:
    """Starting a taken key with another spec names the changed fields, a new key and amend,
    and never advises cancelling (the key would stay taken); the error carries the key and
    names no command (the CLI adds ``onboarding amend``)."""
    raw = samples["demo-inherited"]
    harness.start(raw)
    changed = copy.deepcopy(raw)
    changed["profile"]["description"] = "another"
    with pytest.raises(SpecConflictError) as caught:
        harness.start(changed)
    message = str(caught.value)
    assert "profile.description" in message
    assert "new key" in message
    assert "amend it while it is paused or not yet started" in message
    assert "'onboarding" not in message
    assert caught.value.key == "demo-inherited"
    assert "cancel" not in message


def test_restarting_with_only_other_secrets_is_refused(
    harness: Harness, secret_spec: dict[str, Any]
) -> None:
    """The same key and spec with another card is refused with the amend hint, not ignored;
    the very same spec again is a no-op."""
    first = harness.start(secret_spec)
    assert harness.start(copy.deepcopy(secret_spec)) == first
    other = copy.deepcopy(secret_spec)
    other["profile"]["payment_details"]["card_number"] = "5555555555554444"
    with pytest.raises(SpecConflictError, match="other payment details") as caught:
        harness.start(other)
    assert "amend it while" in str(caught.value)
    assert caught.value.key == secret_spec["key"]
    assert CARD_NUMBER not in str(caught.value)
    assert "5555555555554444" not in str(caught.value)


def test_amend_before_the_start_changes_what_the_create_sends(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """An onboarding not yet started is amended: audited with the changed paths, and the create
    sends the corrected spec."""
    raw = samples["demo-inherited"]
    onboarding = harness.start(raw)
    fixed = copy.deepcopy(raw)
    fixed["profile"]["description"] = "Corrected before it ran"
    saved, already = harness.ops.amend(
        onboarding, _spec(harness, fixed), actor="ops", reason="typo"
    )
    assert (saved.state, already) == ("pending", [])
    amended = harness.store.history(onboarding)[-1]
    assert (amended.trigger, amended.actor, amended.reason) == ("amend", "ops", "typo")
    assert amended.details is not None
    assert amended.details["changed"] == ["profile.description"]
    harness.run()
    (profile,) = harness.sent_profiles()
    assert profile["description"] == "Corrected before it ran"
    assert harness.store.get(onboarding).state == "completed"


def test_amend_after_a_refusal_sends_new_secrets_under_a_new_key(
    harness: Harness, secret_spec: dict[str, Any]
) -> None:
    """A create refused by Sent, then amended with a new card: the resumed create carries the
    new card under a new Idempotency-Key, and no card digit is stored."""
    harness.sandbox.state.organization = OrganizationConfig(
        has_whatsapp_account=False, completion_delay_seconds=0
    )
    raw = copy.deepcopy(secret_spec)
    raw["profile"].pop("whatsapp_business_account")  # so the missing org account refuses it
    onboarding = harness.start(raw)
    harness.run()
    assert harness.store.get(onboarding).state == "needs_attention"
    harness.sandbox.state.organization = OrganizationConfig(completion_delay_seconds=0)
    fixed = copy.deepcopy(raw)
    fixed["profile"]["payment_details"]["card_number"] = "5555555555554444"
    harness.ops.amend(onboarding, _spec(harness, fixed), actor="ops", reason="new card")
    harness.ops.resume(onboarding, actor="ops", reason="account fixed, card replaced")
    harness.run()
    assert harness.store.get(onboarding).state == "submitted"
    creates = [a for a in harness.store.attempts(onboarding) if a.step == "create_profile"]
    assert [a.http_status for a in creates] == [422, 201]
    assert creates[0].idempotency_key != creates[1].idempotency_key
    created = next(t for t in harness.store.history(onboarding) if t.trigger == "create_profile")
    assert created.details is not None
    assert created.details["card_last4"] == "4444"
    assert harness.store.read_secret(onboarding) is None


def test_amend_without_secrets_while_paused_before_the_create_keeps_them(
    harness: Harness, secret_spec: dict[str, Any]
) -> None:
    """A create refused by Sent, then amended with a spec that leaves the secrets out: the
    stored secrets stay (``has_secrets`` says so), and the resumed create sends them."""
    harness.sandbox.state.organization = OrganizationConfig(
        has_whatsapp_account=False, completion_delay_seconds=0
    )
    raw = copy.deepcopy(secret_spec)
    raw["profile"].pop("whatsapp_business_account")  # so the missing org account refuses it
    onboarding = harness.start(raw)
    harness.run()
    paused = harness.store.get(onboarding)
    assert (paused.state, paused.profile_id) == ("needs_attention", None)
    harness.sandbox.state.organization = OrganizationConfig(completion_delay_seconds=0)
    fixed = copy.deepcopy(raw)
    del fixed["profile"]["payment_details"]
    fixed["profile"]["description"] = "Corrected while paused"
    harness.ops.amend(onboarding, _spec(harness, fixed), actor="ops", reason="description")
    amended = harness.store.get(onboarding)
    assert amended.has_secrets
    assert harness.store.read_secret(onboarding) is not None
    harness.ops.resume(onboarding, actor="ops", reason="account fixed")
    harness.run()
    assert harness.store.get(onboarding).state == "submitted"
    created = next(t for t in harness.store.history(onboarding) if t.trigger == "create_profile")
    assert created.details is not None
    assert created.details["card_last4"] == CARD_NUMBER[-4:]
    (profile,) = [p for p in harness.sent_profiles() if not p["deleted"]]
    assert profile["description"] == "Corrected while paused"
    after = harness.store.get(onboarding)
    assert (after.has_secrets, harness.store.read_secret(onboarding)) == (False, None)


def test_amend_is_refused_where_it_cannot_work(harness: Harness, samples: dict[str, Any]) -> None:
    """amend names another key, or secrets after the profile exists: refused, nothing changes;
    amending a running onboarding is refused naming what applies."""
    raw = samples["demo-prerequisite-pause"]
    onboarding = harness.start(raw)
    harness.run()
    before = harness.store.get(onboarding)
    other = copy.deepcopy(raw)
    other["key"] = "another-key"
    with pytest.raises(SpecConflictError, match="amend keeps the key"):
        harness.ops.amend(onboarding, _spec(harness, other), actor="ops", reason="x")
    carded = copy.deepcopy(raw)
    carded["profile"]["billing_model"] = "profile"
    carded["profile"]["billing_contact"] = {"name": "A", "email": "a@example.com"}
    carded["profile"]["payment_details"] = {
        "card_number": CARD_NUMBER, "expiry": "09/39", "cvc": "737", "zip_code": "10001",
    }  # fmt: skip
    with pytest.raises(SpecConflictError, match="already created its profile"):
        harness.ops.amend(onboarding, _spec(harness, carded), actor="ops", reason="x")
    assert harness.store.get(onboarding).version == before.version


def test_amend_lists_values_earlier_steps_already_sent(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Amending a field an earlier step sent and will not send again says so (a rewind sends it
    again); amended profile fields go out again as a PATCH instead, and are listed as such."""
    raw = copy.deepcopy(samples["demo-own-brand-tcr"])
    del raw["profile"]["description"]  # a prerequisite: it pauses before /complete
    onboarding = harness.start(raw)
    harness.run()
    assert harness.store.get(onboarding).last_error["code"] == "PREREQUISITES"  # type: ignore[index]
    fixed = copy.deepcopy(raw)
    fixed["profile"]["description"] = "Now complete"
    # Secrets went with the create and cannot come again; the WhatsApp account (which holds
    # one) is create-only: leaving it out is a change the amend can only list.
    del fixed["profile"]["payment_details"]
    del fixed["profile"]["whatsapp_business_account"]
    fixed["brand"]["contact"]["name"] = "Jane Smith"
    _, already = harness.ops.amend(onboarding, _spec(harness, fixed), actor="ops", reason="x")
    assert sorted(already) == ["brand.contact.name", "profile.whatsapp_business_account"]
    entry = harness.store.history(onboarding)[-1]
    assert entry.details is not None
    assert sorted(entry.details["already_sent"]) == sorted(already)
    assert entry.details["patched"] == ["description"]


def test_amend_then_resume_sends_the_amended_profile_fields(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """A profile paused for a missing description is fixed by amend + resume: the description
    goes to Sent as a PATCH (its own Idempotency-Key, only the amended field), the prerequisites
    are judged again from Sent, and it completes with one profile at Sent (no rewind)."""
    raw = samples["demo-prerequisite-pause"]
    onboarding = harness.start(raw)
    harness.run()
    paused = harness.store.get(onboarding)
    assert (paused.state, (paused.last_error or {}).get("code")) == (
        "needs_attention", "PREREQUISITES"
    )  # fmt: skip
    fixed = copy.deepcopy(raw)
    fixed["profile"]["description"] = "Drafts awaiting review"
    _, already = harness.ops.amend(onboarding, _spec(harness, fixed), actor="ops", reason="desc")
    assert already == []
    harness.ops.resume(onboarding, actor="ops", reason="description added")
    harness.run()
    row = harness.store.get(onboarding)
    assert row.state in ("completed", "submitted"), (row.state, row.last_error)
    live = [p for p in harness.sent_profiles() if not p["deleted"]]
    assert [(p["id"], p["description"]) for p in live] == [
        (row.profile_id, "Drafts awaiting review")
    ]
    patches = [
        a for a in harness.store.attempts(onboarding)
        if a.method == "PATCH" and a.step == "request_completion" and a.item == "profile"
    ]  # fmt: skip
    assert [a.outcome for a in patches] == ["ok"]
    assert patches[0].idempotency_key == f"onb-{onboarding}-profile-update-0-g0"


def test_amending_the_profile_twice_sends_the_second_value_under_a_new_key(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """A second amend after the first PATCH was sent gets a new key (Sent would refuse the old
    one with another body) and sends the newer value."""
    raw = samples["demo-prerequisite-pause"]
    onboarding = harness.start(raw)
    harness.run()
    for attempt, description in enumerate(["First try", "Second try"]):
        fixed = copy.deepcopy(raw)
        fixed["profile"]["description"] = description
        if attempt:  # paused again, so the second amend applies
            harness.force(onboarding, state="needs_attention", paused_from="campaigns")
        harness.ops.amend(onboarding, _spec(harness, fixed), actor="ops", reason=description)
        harness.ops.resume(onboarding, actor="ops", reason=description)
        harness.run()
    keys = [
        a.idempotency_key for a in harness.store.attempts(onboarding)
        if a.step == "request_completion" and a.item == "profile"
    ]  # fmt: skip
    assert keys == [
        f"onb-{onboarding}-profile-update-0-g0", f"onb-{onboarding}-profile-update-0-g0-r1"
    ]  # fmt: skip
    row = harness.store.get(onboarding)
    [profile] = [p for p in harness.sent_profiles() if p["id"] == row.profile_id]
    assert profile["description"] == "Second try"


def test_an_unreadable_secret_names_what_works(
    harness: Harness, secret_spec: dict[str, Any]
) -> None:
    """The pause for an unreadable secret advises restoring the key or amend, never cancel."""
    onboarding = harness.start(secret_spec)
    harness.executor.vault = FernetVault.generate()
    harness.run()
    row = harness.store.get(onboarding)
    assert row.last_error is not None
    reason = row.last_error["reason"]
    assert "onboarding resume" in reason
    assert "onboarding amend" in reason
    assert "cancel" not in reason


def test_resume_after_a_prerequisite_pause_judges_sents_current_profile(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Paused on an unmet prerequisite, fixed at Sent by a person, resumed: the engine reads the
    profile again (once) instead of judging the replies it held, and completes."""
    onboarding = harness.start(samples["demo-prerequisite-pause"])
    harness.run()
    row = harness.store.get(onboarding)
    assert row.last_error is not None
    assert row.last_error["code"] == "PREREQUISITES"
    assert row.profile_id is not None
    harness.ops.resume(onboarding, actor="ops", reason="not fixed yet")
    harness.run()
    assert harness.store.get(onboarding).state == "needs_attention"  # still unmet: paused again
    harness.sandbox.state.profiles[row.profile_id].data["description"] = "Filled in at Sent"
    harness.ops.resume(onboarding, actor="ops", reason="description filled in at Sent")
    harness.run()
    assert harness.store.get(onboarding).state == "completed"
    reads = [
        a for a in harness.store.attempts(onboarding)
        if a.step == "request_completion" and a.method == "GET"
    ]  # fmt: skip
    assert len(reads) == 4  # profile and campaigns, once per resume


def test_a_rewind_after_an_amend_still_sends_the_amended_profile_fields(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """amend, then rewind --to incomplete (instead of resume): the new generation sends the
    amended description too, and the onboarding completes on its one profile."""
    raw = samples["demo-prerequisite-pause"]
    onboarding = harness.start(raw)
    harness.run()
    fixed = copy.deepcopy(raw)
    fixed["profile"]["description"] = "Drafts awaiting review"
    harness.ops.amend(onboarding, _spec(harness, fixed), actor="ops", reason="desc")
    harness.ops.rewind(onboarding, "incomplete", actor="ops", reason="run the later steps again")
    harness.run()
    row = harness.store.get(onboarding)
    assert row.state in ("completed", "submitted"), (row.state, row.last_error)
    live = [p for p in harness.sent_profiles() if not p["deleted"]]
    assert [(p["id"], p["description"]) for p in live] == [
        (row.profile_id, "Drafts awaiting review")
    ]
    keys = [
        a.idempotency_key for a in harness.store.attempts(onboarding)
        if a.step == "request_completion" and a.item == "profile"
    ]  # fmt: skip
    assert keys == [f"onb-{onboarding}-profile-update-0-g1"]


def test_profile_fields_amended_after_completion_was_asked_are_listed_not_patched(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Past /complete (paused waiting for the outcome) no step sends profile fields any more:
    the amend lists them as already sent (a rewind sends them) instead of promising a PATCH."""
    raw = samples["demo-inherited"]
    onboarding = harness.start(raw)
    harness.run_until(onboarding, "complete")
    harness.force(onboarding, state="needs_attention", paused_from="complete")
    fixed = copy.deepcopy(raw)
    fixed["profile"]["description"] = "Later"
    _, already = harness.ops.amend(onboarding, _spec(harness, fixed), actor="ops", reason="x")
    assert already == ["profile.description"]
    details = harness.store.history(onboarding)[-1].details or {}
    assert details["patched"] == []
