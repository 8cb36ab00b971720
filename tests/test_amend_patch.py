"""amend's profile PATCH: what is sent, what is only listed, and the judgement after it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from tests.cli_process import environment, run
from tests.conftest import TEST_KEY, Harness
from workflow.operating import resent_by_rewind_to
from workflow.sandbox.faults import FaultConfig, ScriptedFault
from workflow.spec import parse_spec


def _spec(harness: Harness, raw: dict[str, Any]) -> Any:
    return parse_spec(raw, today=harness.clock.now().date())


def _paused_after_facts(harness: Harness, raw: dict[str, Any]) -> str:
    """Paused in ``campaigns`` with the facts judged (met) and /complete refused once by Sent."""
    harness.sandbox.faults.configure(
        FaultConfig(scripted=[ScriptedFault(method="POST", path_contains="/complete", status=400)])
    )
    onboarding = harness.start(raw)
    harness.run()
    row = harness.store.get(onboarding)
    assert (row.state, row.paused_from) == ("needs_attention", "campaigns")
    return onboarding


def _sent(harness: Harness, onboarding: str) -> dict[str, Any]:
    row = harness.store.get(onboarding)
    return next(p for p in harness.sent_profiles() if p["id"] == row.profile_id)


def test_a_removed_profile_field_is_not_reported_as_patched(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Removing a field the create sent: the PATCH body drops it (exclude_none; null means
    'leave unchanged' at Sent), so nothing changes at Sent, yet the audit row says 'patched'."""
    raw = samples["demo-inherited"]
    raw["profile"]["allow_contact_sharing"] = True
    onboarding = _paused_after_facts(harness, raw)
    fixed = copy.deepcopy(raw)
    del fixed["profile"]["description"]
    del fixed["profile"]["allow_contact_sharing"]  # absent means false to the API
    _, already = harness.ops.amend(onboarding, _spec(harness, fixed), actor="ops", reason="x")
    details = harness.store.history(onboarding)[-1].details or {}
    harness.ops.resume(onboarding, actor="ops", reason="x")
    harness.run()
    profile = _sent(harness, onboarding)
    for field, removed in (("description", None), ("allow_contact_sharing", False)):
        assert profile[field] == removed or (
            field not in details["patched"] and f"profile.{field}" in already
        ), (field, profile[field], details)


def test_the_prediction_is_judged_on_the_profile_the_patch_left(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """The facts item was done before the pause, so after the PATCH it is not computed again:
    the prediction uses the pre-PATCH profile (and the older channels reply would win anyway)."""
    raw = samples["demo-own-brand-tcr"]
    onboarding = _paused_after_facts(harness, raw)
    fixed = copy.deepcopy(raw)
    del fixed["profile"]["payment_details"]
    del fixed["profile"]["whatsapp_business_account"]
    fixed["profile"]["inherit_tcr_brand"] = True
    fixed["profile"]["inherit_tcr_campaign"] = True
    del fixed["brand"]
    fixed["campaigns"] = []
    harness.ops.amend(onboarding, _spec(harness, fixed), actor="ops", reason="inherit")
    harness.ops.resume(onboarding, actor="ops", reason="inherit")
    harness.run()
    row = harness.store.get(onboarding)
    # Sent keeps the own brand and the TCR application (the inherit flags are not patched):
    # Status Logic rule 2, a TCR application that does not inherit its brand -> SUBMITTED.
    assert (row.state, row.predicted_outcome, row.predicted_rule) == ("submitted", "submitted", 2)


def test_the_inherit_flags_are_listed_not_patched(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """inherit_tcr_brand and inherit_tcr_campaign decided what the brand and campaign steps did:
    an amend of them is listed (a new profile is needed), never sent alone in a PATCH."""
    raw = samples["demo-inherited"]
    onboarding = _paused_after_facts(harness, raw)
    fixed = copy.deepcopy(raw)
    fixed["profile"]["inherit_tcr_campaign"] = False
    _, already = harness.ops.amend(onboarding, _spec(harness, fixed), actor="ops", reason="x")
    assert already == ["profile.inherit_tcr_campaign"]
    assert (harness.store.history(onboarding)[-1].details or {})["patched"] == []
    harness.ops.resume(onboarding, actor="ops", reason="x")
    harness.run()
    assert not [
        a for a in harness.store.attempts(onboarding)
        if a.step == "request_completion" and a.item == "profile"
    ]  # fmt: skip


def test_after_a_patch_the_facts_are_judged_again_from_sent(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Facts judged before the pause are judged again after the PATCH, from Sent's profile and
    campaigns (read once), before /complete is called again."""
    raw = samples["demo-inherited"]
    onboarding = _paused_after_facts(harness, raw)
    fixed = copy.deepcopy(raw)
    fixed["profile"]["description"] = "Support, amended"
    harness.ops.amend(onboarding, _spec(harness, fixed), actor="ops", reason="x")
    harness.ops.resume(onboarding, actor="ops", reason="x")
    harness.run()
    row = harness.store.get(onboarding)
    # Channels present, not a TCR application, no main country: rule 4 -> COMPLETED.
    assert (row.state, row.predicted_outcome, row.predicted_rule) == ("completed", "completed", 4)
    calls = [
        (a.method, a.path.rsplit("/", 1)[-1])
        for a in harness.store.attempts(onboarding)
        if a.step == "request_completion"
    ]
    after_pause = calls[calls.index(("POST", "complete")) + 1 :]
    assert after_pause == [
        ("PATCH", row.profile_id), ("GET", row.profile_id), ("GET", "campaigns"),
        ("POST", "complete"),
    ]  # fmt: skip
    assert _sent(harness, onboarding)["description"] == "Support, amended"


def test_a_rewind_sends_profile_fields_amended_past_complete(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Past /complete the amend lists the field as already sent and says a rewind sends it
    again; 'rewind --to campaigns' re-runs /complete without ever sending it."""
    raw = samples["demo-inherited"]
    onboarding = harness.start(raw)
    harness.run_until(onboarding, "complete")
    harness.force(onboarding, state="needs_attention", paused_from="complete")
    fixed = copy.deepcopy(raw)
    fixed["profile"]["description"] = "Later"
    _, already = harness.ops.amend(onboarding, _spec(harness, fixed), actor="ops", reason="x")
    assert already == ["profile.description"]
    harness.ops.rewind(onboarding, "campaigns", actor="ops", reason="send it again")
    harness.run()
    assert _sent(harness, onboarding)["description"] == "Later"


def test_amending_to_an_own_brand_does_not_strip_the_inherited_one(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """inherit_tcr_brand false + a brand, on a profile that inherited its brand: the PATCH sends
    inherit_tcr_brand false alone (the brand is listed 'already sent' though it never was), so
    the profile is left with no brand and Sent refuses /complete."""
    raw = samples["demo-inherited"]
    onboarding = _paused_after_facts(harness, raw)
    fixed = copy.deepcopy(raw)
    fixed["profile"]["inherit_tcr_brand"] = False
    fixed["brand"] = copy.deepcopy(samples["demo-main-country"]["brand"])
    _, already = harness.ops.amend(onboarding, _spec(harness, fixed), actor="ops", reason="x")
    harness.ops.resume(onboarding, actor="ops", reason="x")
    harness.run()
    assert "brand" not in already or _sent(harness, onboarding)["brand"] is not None
    assert harness.store.get(onboarding).state in ("completed", "submitted")


def test_the_cli_says_what_the_amend_sends_and_which_rewind_sends_the_rest(
    harness: Harness, samples: dict[str, Any], tmp_path: Path
) -> None:
    """`onboarding amend` prints the fields its PATCH sends, and for each value it will not send
    again the rewind that would (a new profile for create-only fields)."""
    raw = samples["demo-prerequisite-pause"]
    onboarding = harness.start(raw)
    harness.run()
    fixed = copy.deepcopy(raw)
    fixed["profile"]["description"] = "Drafts awaiting review"
    fixed["profile"]["inherit_tcr_campaign"] = False
    spec = tmp_path / "fixed.yaml"
    spec.write_text(yaml.safe_dump(fixed))
    url = harness.store.engine.url.render_as_string(hide_password=False)
    keyed = environment(ONBOARDING_SECRET_KEY=TEST_KEY.decode())  # amend writes the audit log
    result = run(
        "--db", url, "amend", onboarding, str(spec), "--reason", "r", "--actor", "ops", env=keyed
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        "sent again to Sent as a profile PATCH before /complete: profile.description",
        "already sent by earlier steps, not sent again: 'onboarding rewind "
        "demo-prerequisite-pause --to pending' sends profile.inherit_tcr_campaign (with a new "
        "profile)",
    ]


def test_the_rewind_that_resends_each_section() -> None:
    """Profile fields come with the create (a new profile) unless queued for the amend's PATCH;
    brand, campaigns and channels with their own steps."""
    assert resent_by_rewind_to("profile.description") == "pending"
    assert resent_by_rewind_to("profile.description", ["description"]) == "campaigns"
    assert resent_by_rewind_to("profile.inherit_tcr_brand", ["description"]) == "pending"
    assert resent_by_rewind_to("brand.contact.name") == "incomplete"
    assert resent_by_rewind_to("campaigns[0].name") == "brand"
    assert resent_by_rewind_to("channels.sending_phone_number") == "campaigns"
