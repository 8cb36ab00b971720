"""The engine against Sent's answers as Sent gives them: pages, rejections, scoping, refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from tests.conftest import Harness
from workflow.core.spec import parse_spec
from workflow.sandbox import FaultConfig, OrganizationConfig, ScriptedFault

#: Calls that act on one profile: the client names it in x-profile-id.
PROFILE_SCOPED = {
    "get_profile", "update_profile", "delete_profile", "complete", "list_campaigns",
    "create_campaign", "update_campaign", "delete_campaign",
}  # fmt: skip


def _lose_the_create_reply_then_forget_the_key(harness: Harness, onboarding: str) -> None:
    """The create runs at Sent, its reply is lost, and 25 h later Sent no longer knows the key."""
    harness.sandbox.faults.configure(
        FaultConfig(scripted=[ScriptedFault(method="POST", status=502, after_execution=True)])
    )
    harness.executor.run_once(onboarding)
    assert harness.store.get(onboarding).attempts == 1
    harness.clock.advance(25 * 3600)
    harness.sandbox.clock.advance(25 * 3600)
    harness.force(onboarding, next_attempt_at=harness.clock.now())


def test_reconciliation_finds_the_lost_profile_on_a_later_page(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """With 25 other profiles and pages of 10, the lost create is found on page 3 and adopted.

    The others were made 10 minutes before the create, outside the window of its attempts
    (made within it, by nobody this database knows, they would be listed for a person)."""
    harness.sandbox.state.organization = OrganizationConfig(
        completion_delay_seconds=0.0, list_page_size=10
    )
    for number in range(25):
        harness.api.create_profile(
            {"name": f"Other {number}", "billing_model": "organization"},
            idempotency_key=f"other-{number}",
        )
    harness.clock.advance(600)
    harness.sandbox.clock.advance(600)
    onboarding = harness.start(samples["demo-inherited"])
    _lose_the_create_reply_then_forget_the_key(harness, onboarding)
    harness.run()
    row = harness.store.get(onboarding)
    assert row.state == "completed"
    named = [p for p in harness.sent_profiles() if p["name"] == "Support"]
    assert len(named) == 1
    assert row.profile_id == named[0]["id"]
    assert harness.store.history(onboarding)[1].details["reconciled"] is True
    lists = [
        e for e in harness.sandbox.snapshot()["x_profile_ids"] if e["operation"] == "list_profiles"
    ]
    assert lists == [
        {"operation": "list_profiles", "profile_id": None, "x_profile_id": None, "count": 3}
    ]


def test_a_rejection_pauses_with_sents_reason(harness: Harness, samples: dict[str, Any]) -> None:
    """Sent's rejection_reason is in the pause reason, last_error and the audit entry."""
    why = "Brand information could not be verified against the EIN"
    harness.sandbox.state.organization = OrganizationConfig(
        completion_delay_seconds=0.0, rejection_reason=why
    )
    onboarding = harness.start(samples["demo-inherited"])
    harness.run()
    row = harness.store.get(onboarding)
    assert (row.state, row.paused_from) == ("needs_attention", "complete")
    assert row.last_error is not None
    assert row.last_error["code"] == "REJECTED"
    assert row.last_error["sent_reason"] == why
    assert row.last_error["reason"] == f"Sent rejected profile {row.profile_id}: {why}"
    assert harness.store.history(onboarding)[-1].reason == row.last_error["reason"]


def test_every_profile_scoped_call_names_the_profile_in_x_profile_id(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """Own-brand TCR end to end (with a reconciled create): calls on the profile carry its id in
    x-profile-id; the create and the list carry none."""
    onboarding = harness.start(samples["demo-own-brand-tcr"])
    _lose_the_create_reply_then_forget_the_key(harness, onboarding)
    harness.run()
    row = harness.store.get(onboarding)
    assert row.state == "submitted"
    seen = harness.sandbox.snapshot()["x_profile_ids"]
    operations = {e["operation"] for e in seen}
    assert {"create_profile", "list_profiles", "create_campaign", "complete", "get_profile"} <= (
        operations
    )
    for entry in seen:
        if entry["operation"] in PROFILE_SCOPED:
            assert (entry["profile_id"], entry["x_profile_id"]) == (row.profile_id, row.profile_id)
        else:
            assert entry["operation"] in ("create_profile", "list_profiles"), entry
            assert entry["x_profile_id"] is None, entry


def test_a_refused_create_is_resumed_under_a_new_key(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """422 (no WhatsApp account) pauses; after the fix, resume creates under a new key, while the
    refused key still answers the cached 422 at Sent."""
    assert harness.sandbox.cache_client_errors is True
    harness.sandbox.state.organization = OrganizationConfig(
        completion_delay_seconds=0.0, has_whatsapp_account=False
    )
    onboarding = harness.start(samples["demo-inherited"])
    harness.run()
    row = harness.store.get(onboarding)
    assert (row.state, row.paused_from) == ("needs_attention", "pending")
    harness.sandbox.state.organization = OrganizationConfig(completion_delay_seconds=0.0)
    harness.ops.resume(onboarding, actor="ops", reason="WhatsApp signup done")
    harness.run()
    assert harness.store.get(onboarding).state == "completed"
    creates = [a for a in harness.store.attempts(onboarding) if a.path == "/v3/profiles"]
    assert [(a.method, a.http_status) for a in creates] == [("POST", 422), ("POST", 201)]
    refused, created = creates
    assert refused.idempotency_key is not None
    assert created.idempotency_key not in (None, refused.idempotency_key)
    assert len(harness.sent_profiles()) == 1

    # The converse: the old key, sent again with the same body, gets the cached refusal.
    body = parse_spec(samples["demo-inherited"], today=harness.clock.now().date()).create_body({})
    content = httpx.Request("POST", "http://x", json=body).content  # the bytes the client sends
    headers = {
        "x-api-key": "sandbox-key",
        "Idempotency-Key": refused.idempotency_key,
        "content-type": "application/json",
    }
    with httpx.Client(base_url=harness.api.base_url, headers=headers, timeout=10) as http:
        replays = [http.post("/v3/profiles", content=content) for _ in range(2)]
    assert [r.status_code for r in replays] == [422, 422]
    assert replays[0].json() == replays[1].json()
    assert replays[0].json()["meta"]["request_id"] == refused.request_id
    assert replays[0].json()["error"]["message"] == refused.message
    assert len(harness.sent_profiles()) == 1


def test_resume_after_a_completion_timeout_waits_again_from_the_resume(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """After COMPLETION_TIMEOUT, resume waits a full timeout more; the late completion finishes it."""
    harness.slow_completions()
    timeout = timedelta(seconds=harness.executor.config.completion_timeout)
    assert timeout == timedelta(seconds=600)
    onboarding = harness.start(samples["demo-inherited"])
    harness.run()
    row = harness.store.get(onboarding)
    assert row.last_error is not None
    assert row.last_error["code"] == "COMPLETION_TIMEOUT"
    first_deadline = row.completion_deadline
    assert first_deadline is not None
    harness.clock.advance(1800)  # the operator looks later
    resumed_at = harness.clock.now()
    harness.ops.resume(onboarding, actor="ops", reason="give Sent more time")
    assert harness.store.get(onboarding).state == "complete"
    for _ in range(3):  # a few polls inside the new window
        harness.worker.tick()
        harness.worker.wait_in_flight()
        row = harness.store.get(onboarding)
        assert row.state == "complete", row.last_error
        assert row.completion_deadline == resumed_at + timeout
        assert row.next_attempt_at is not None
        assert row.next_attempt_at <= row.completion_deadline
        harness.clock.advance((row.next_attempt_at - harness.clock.now()).total_seconds())
    assert harness.clock.now() < resumed_at + timeout
    harness.sandbox.completer.flush()
    harness.run()
    row = harness.store.get(onboarding)
    assert (row.state, row.actual_outcome) == ("completed", "completed")
