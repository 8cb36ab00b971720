"""The Sent API revision as a setting: the 2026-10 contract of ``/complete`` (SDK 0.46.0).

Expectations are written from the SDK 0.46.0 docstring of ``profiles.complete`` and from the
seeds, never computed by the rule functions the engine and the sandbox share.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from persistence.store import SqlStore
from tests.conftest import Harness, with_key
from workflow.management import Onboardings
from workflow.rules import (
    REVISION_2026_03,
    REVISION_2026_10,
    CompletionFacts,
    check_revision,
    predict,
    prerequisites,
    unmet_prerequisites,
)
from workflow.sandbox import FaultConfig, OrganizationConfig
from workflow.sandbox.faults import ScriptedFault

#: A TCR application with its own brand and campaign that states both inherit choices, SMS only.
MET = {
    "profile_complete": True, "inherit_tcr_brand": False, "inherit_tcr_campaign": False,
    "has_own_brand": True, "parent_has_brand": True, "is_tcr_application": True,
    "has_own_campaigns": True, "parent_has_campaigns": True, "has_sms": True,
    "has_whatsapp": False, "has_main_destination_country": False,
}  # fmt: skip


def _facts(**changes: Any) -> CompletionFacts:
    return CompletionFacts(**{**MET, "revision": REVISION_2026_10, **changes})


# ------------------------------------------------------------------------- rules
def test_revisions_are_named_and_checked() -> None:
    assert check_revision("2026-10") == "2026-10"
    with pytest.raises(ValueError, match="one of 2026-03, 2026-10"):
        check_revision("2027-01")


def test_2026_10_prerequisites_met_report_kyc_unknown_not_unmet() -> None:
    """A KYC form is required, but the engine cannot see one: reported unknown, not guessed."""
    found = prerequisites(_facts())
    assert [(p.code, p.blocking, p.unknown) for p in found] == [("KYC_FORM_MISSING", False, True)]
    assert unmet_prerequisites(_facts()) == []


def test_2026_10_prerequisites_as_the_sdk_lists_them() -> None:
    """Name/short name/description; KYC; a brand own or inherited; a TCR campaign; main-country
    documents; the TCR inherit choice (SDK 0.46.0 ``profiles.complete``)."""
    facts = _facts(
        profile_complete=False, kyc_submitted=False, has_own_brand=False,
        inherit_tcr_brand=False, has_own_campaigns=False, inherit_tcr_campaign=False,
        has_main_destination_country=True, documents_uploaded=False, tcr_choice_stated=False,
    )  # fmt: skip
    assert [p.code for p in unmet_prerequisites(facts)] == [
        "PROFILE_INCOMPLETE", "KYC_FORM_MISSING", "BRAND_MISSING", "TCR_CAMPAIGN_MISSING",
        "COMPLIANCE_DOCUMENTS_MISSING", "TCR_INHERIT_CHOICE_MISSING",
    ]  # fmt: skip


def test_2026_10_inherited_brand_and_unknown_documents() -> None:
    inherited = _facts(has_own_brand=False, inherit_tcr_brand=True, kyc_submitted=True)
    assert unmet_prerequisites(inherited) == []
    documents = prerequisites(_facts(has_main_destination_country=True, kyc_submitted=True))
    assert [(p.code, p.unknown) for p in documents] == [("COMPLIANCE_DOCUMENTS_MISSING", True)]


def test_the_outcome_by_revision() -> None:
    """2026-10: onboarded reads approved (engine: completed) whatever the channels or TCR state;
    2026-03: the seed's Status Logic (rule 1, both channels missing -> submitted)."""
    no_channels = {"has_sms": False, "has_whatsapp": False}
    later = predict(_facts(**no_channels))
    assert (later.outcome.value, later.rule) == ("completed", 0)
    seed = predict(_facts(**no_channels, revision=REVISION_2026_03))
    assert (seed.outcome.value, seed.rule) == ("submitted", 1)
    # the seed's prerequisites know nothing of KYC
    assert prerequisites(_facts(revision=REVISION_2026_03, kyc_submitted=False)) == []


# ----------------------------------------------------------------------- engine
def _later(harness: Harness, **organization: Any) -> Onboardings:
    """The sandbox and new onboardings on the 2026-10 revision."""
    harness.sandbox.state.organization = OrganizationConfig(
        completion_delay_seconds=0.0, api_revision="2026-10", **organization
    )
    return Onboardings(harness.store, harness.vault, clock=harness.clock, sent_api="2026-10")


def _start(harness: Harness, ops: Onboardings, raw: dict[str, Any]) -> str:
    from workflow.spec import parse_spec

    return ops.start(parse_spec(raw, today=harness.clock.now().date()), actor="test").id


def _complete_attempts(store: SqlStore, onboarding_id: str) -> list[Any]:
    return store.item_attempts(onboarding_id, "request_completion", "complete")


def test_each_onboarding_keeps_the_revision_it_started_under(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """The same TCR spec: submitted under 2026-03 (rule 2), completed (approved) under 2026-10."""
    seed = harness.start(with_key(samples["demo-own-brand-tcr"], "tcr-seed"))
    harness.run()
    ops = _later(harness)
    later = _start(harness, ops, with_key(samples["demo-own-brand-tcr"], "tcr-later"))
    harness.run()
    old, new = harness.store.get(seed), harness.store.get(later)
    assert (old.sent_api, old.state, old.predicted_rule) == ("2026-03", "submitted", 2)
    assert (new.sent_api, new.state, new.predicted_outcome, new.predicted_rule) == (
        "2026-10", "completed", "completed", 0,
    )  # fmt: skip
    assert new.actual_outcome == "completed"
    profile = next(p for p in harness.sent_profiles() if p["id"] == new.profile_id)
    assert profile["status"] == "approved"


def test_missing_kyc_form_pauses_with_sents_list_then_resumes(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Sent's 400 names the KYC form: paused PREREQUISITES with Sent's list; once the form is
    in, a resume sends /complete again under a new key and the profile is onboarded."""
    ops = _later(harness, kyc_submitted=False)
    onboarding = _start(harness, ops, with_key(samples["demo-own-brand-tcr"], "no-kyc"))
    harness.run()
    row = harness.store.get(onboarding)
    assert row.last_error is not None
    assert (row.state, row.paused_from, row.last_error["code"]) == (
        "needs_attention", "campaigns", "PREREQUISITES",
    )  # fmt: skip
    assert row.last_error["unmet"] == [
        {"code": "kyc", "message": "A KYC form submission is required."}
    ]
    assert "kyc: A KYC form submission is required." in row.last_error["reason"]
    assert [(a.http_status, a.outcome) for a in _complete_attempts(harness.store, onboarding)] == [
        (400, "failed")
    ]
    harness.sandbox.state.organization = harness.sandbox.state.organization.model_copy(
        update={"kyc_submitted": True}
    )
    ops.resume(onboarding, reason="KYC form submitted", actor="test")
    harness.run()
    assert harness.store.get(onboarding).state == "completed"
    keys = [a.idempotency_key for a in _complete_attempts(harness.store, onboarding)]
    assert len(keys) == 2
    assert keys[1] == f"{keys[0]}-r1"


def test_missing_description_pauses_before_complete(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Name, short name and description are required: judged locally, /complete never sent."""
    raw = copy.deepcopy(with_key(samples["demo-own-brand-tcr"], "no-description"))
    del raw["profile"]["description"]
    ops = _later(harness)
    onboarding = _start(harness, ops, raw)
    harness.run()
    row = harness.store.get(onboarding)
    assert row.last_error is not None
    assert (row.state, row.last_error["code"]) == ("needs_attention", "PREREQUISITES")
    assert [u["code"] for u in row.last_error["unmet"]] == ["PROFILE_INCOMPLETE"]
    assert _complete_attempts(harness.store, onboarding) == []


def test_already_onboarded_concludes_from_the_200(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """200 already onboarded: concluded without waiting for a callback nor reading the
    profile, with Sent's status recorded."""
    ops = _later(harness)
    # The first /complete fails (503), so the profile can be onboarded at Sent meanwhile.
    harness.sandbox.faults.configure(
        FaultConfig(scripted=[ScriptedFault(path_contains="/complete", status=503)])
    )
    onboarding = _start(harness, ops, with_key(samples["demo-own-brand-tcr"], "onboarded"))
    for _ in range(50):
        if _complete_attempts(harness.store, onboarding):
            break
        harness.worker.tick()
        harness.worker.wait_in_flight()
    profile_id = harness.store.get(onboarding).profile_id
    assert profile_id is not None
    harness.sandbox.state.profiles[profile_id].data["status"] = "approved"
    harness.run()
    row = harness.store.get(onboarding)
    assert (row.state, row.actual_outcome) == ("completed", "completed")
    assert [a.http_status for a in _complete_attempts(harness.store, onboarding)] == [503, 200]
    assert [a.step for a in harness.store.attempts(onboarding) if a.step == "await_outcome"] == []
    conclude = [t for t in harness.store.history(onboarding) if t.trigger == "conclude"]
    assert conclude[0].details is not None
    assert conclude[0].details["sent_status"] == "approved"
    assert harness.sandbox.completer.callbacks_sent == 0


def test_a_lost_webhook_still_concludes_by_polling(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Sent sends the completion webhook once, without retry: lost, polling concludes."""
    ops = _later(harness)
    harness.sandbox.faults.configure(FaultConfig(callback_drop_rate=1.0))
    onboarding = _start(harness, ops, with_key(samples["demo-own-brand-tcr"], "lost-hook"))
    harness.run()
    assert harness.store.get(onboarding).state == "completed"
    assert harness.sandbox.completer.callbacks_dropped == 1
    assert harness.sandbox.completer.callbacks_sent == 0


def test_a_failed_completion_pauses_with_the_webhooks_reason(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """2026-10: a failed run keeps the profile's status; the webhook's reason pauses it."""
    ops = _later(harness, completion_failure_reason="Brand vetting failed at the carrier")
    onboarding = _start(harness, ops, with_key(samples["demo-own-brand-tcr"], "failed-run"))
    harness.run()
    row = harness.store.get(onboarding)
    assert row.last_error is not None
    assert (row.state, row.paused_from, row.last_error["code"]) == (
        "needs_attention", "complete", "COMPLETION_FAILED",
    )  # fmt: skip
    assert row.last_error["sent_reason"] == "Brand vetting failed at the carrier"
    assert row.last_error["status"] == "incomplete"


def test_conflict_001_is_retried_later_under_the_same_key(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """409 CONFLICT_001 (the same key still being processed): sent again later with the same
    Idempotency-Key, never a refusal, never counted as an attempt."""
    ops = _later(harness)
    harness.sandbox.faults.configure(
        FaultConfig(
            scripted=[ScriptedFault(path_contains="/complete", status=409, code="CONFLICT_001",
                                    times=2)]
        )
    )  # fmt: skip
    onboarding = _start(harness, ops, with_key(samples["demo-own-brand-tcr"], "conflict"))
    harness.run()
    row = harness.store.get(onboarding)
    assert row.state == "completed"
    attempts = _complete_attempts(harness.store, onboarding)
    assert [(a.http_status, a.error_code, a.outcome) for a in attempts] == [
        (409, "CONFLICT_001", "retry"), (409, "CONFLICT_001", "retry"), (202, None, "ok"),
    ]  # fmt: skip
    assert len({a.idempotency_key for a in attempts}) == 1
    assert {a.attempt for a in attempts} == {1}  # waiting is not an attempt


def test_a_replayed_answer_is_recorded_on_the_attempt(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """/complete executed but its reply lost: the retry under the same key is answered from
    Sent's cache (``Idempotent-Replayed: true``), and the attempt says so."""
    ops = _later(harness)
    harness.sandbox.faults.configure(
        FaultConfig(
            scripted=[ScriptedFault(path_contains="/complete", status=502, after_execution=True)]
        )
    )
    onboarding = _start(harness, ops, with_key(samples["demo-own-brand-tcr"], "replayed"))
    harness.run()
    assert harness.store.get(onboarding).state == "completed"
    attempts = _complete_attempts(harness.store, onboarding)
    assert [(a.http_status, a.replayed) for a in attempts] == [(502, False), (202, True)]
