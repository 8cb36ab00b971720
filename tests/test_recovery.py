"""Recovery against a Sent that behaves as it may: lost replies, rewinds, cancels and deletions.

Each test reproduces a way the engine used to go wrong (a second campaign after a rewind, a
profile id lost to a cancel, a hot loop on a malformed reply) and proves what happens now.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import Harness
from workflow.adapters.sent_client import HttpxSentApi
from workflow.cli import app
from workflow.sandbox import FaultConfig, ScriptedFault


def _campaign_posts(harness: Harness) -> int:
    return int(harness.sandbox.snapshot()["mutations"].get("create_campaign executed", 0))


def test_a_lost_campaign_reply_then_rewind_leaves_one_campaign(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """A campaign POST applied at Sent whose reply was lost, retries then exhausted, then
    'rewind --to incomplete': the new generation reads Sent first and adopts the campaign."""
    onboarding = harness.start(samples["demo-own-brand-tcr"])
    harness.sandbox.faults.configure(
        FaultConfig(
            scripted=[
                ScriptedFault(
                    method="POST", path_contains="/campaigns", status=502, after_execution=True
                ),
                ScriptedFault(method="POST", path_contains="/campaigns", status=503, times=100),
            ]
        )
    )
    harness.run()
    paused = harness.store.get(onboarding)
    assert (paused.state, paused.paused_from) == ("needs_attention", "brand")
    assert paused.last_error is not None
    assert paused.last_error["attempts"] == harness.executor.config.retry.max_attempts
    assert _campaign_posts(harness) == 1  # applied once, the reply lost

    harness.sandbox.faults.configure(FaultConfig())
    harness.ops.rewind(onboarding, "incomplete", actor="ops", reason="Sent is back")
    harness.run()
    row = harness.store.get(onboarding)
    assert row.state == "submitted"
    (profile,) = harness.sent_profiles()
    assert len(profile["own_campaigns"]) == 1
    assert _campaign_posts(harness) == 1
    attached = next(t for t in harness.store.history(onboarding) if t.trigger == "attach_campaigns")
    assert attached.details is not None
    assert attached.details["reconciled"] == ["0"]


class _OperatorCancelsDuringCreate:
    """A Sent client through which an operator cancels while the create is on the wire."""

    def __init__(self, api: HttpxSentApi, act: Any) -> None:
        self._api = api
        self._act = act

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    def create_profile(self, body: Any, *, idempotency_key: str) -> Any:
        reply = self._api.create_profile(body, idempotency_key=idempotency_key)
        self._act()
        return reply


@pytest.mark.parametrize("delete_at_sent", [False, True])
def test_cancel_during_a_create_keeps_the_profile_id_sent_answered(
    harness: Harness, samples: dict[str, Any], delete_at_sent: bool
) -> None:
    """An operator cancels while Sent creates the profile: the engine's commit is refused, but
    the id Sent answered is kept with the attempt (and 'show' lists it); with --delete-at-sent the
    profile is then deleted at Sent."""
    onboarding = harness.start(samples["demo-inherited"])
    real = harness.executor.api
    harness.executor.api = _OperatorCancelsDuringCreate(  # type: ignore[assignment]
        real,
        lambda: harness.ops.cancel(
            onboarding, actor="ops", reason="customer left", delete_at_sent=delete_at_sent
        ),
    )
    report = harness.executor.run_once(onboarding)
    harness.executor.api = real
    assert report.kind == "conflict"
    (profile,) = harness.sent_profiles()
    assert harness.store.resource_ids(onboarding, "create_profile") == [profile["id"]]
    shown = CliRunner().invoke(
        app, ["--db", str(harness.store.engine.url), "show", onboarding, "--json"]
    )
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["profiles_at_sent"] == [profile["id"]]
    harness.run()
    row = harness.store.get(onboarding)
    assert row.state == "cancelled"
    (profile,) = harness.sent_profiles()
    assert profile["deleted"] is delete_at_sent
    if delete_at_sent:
        deleted = next(
            t for t in harness.store.history(onboarding) if t.trigger == "delete_profile"
        )
        assert deleted.details == {"deleted": [profile["id"]], "already_gone": []}


def test_cancel_with_delete_at_sent_deletes_once_and_counts_404_as_done(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """cancel --delete-at-sent deletes the profile (audited); a profile already gone (404) counts
    as deleted; without the flag nothing at Sent is touched."""
    kept = harness.start(samples["demo-prerequisite-pause"])
    gone = harness.start(samples["demo-no-channels"])
    harness.sandbox.state.organization = harness.sandbox.state.organization.model_copy(
        update={"completion_delay_seconds": 3600}
    )
    harness.run_until(kept, "needs_attention")
    harness.run_until(gone, "complete")
    harness.ops.cancel(kept, actor="ops", reason="not needed")
    harness.ops.cancel(gone, actor="ops", reason="duplicate", delete_at_sent=True)
    assert harness.store.get(gone).state == "cancelling"
    gone_profile = harness.store.get(gone).profile_id
    assert gone_profile is not None
    harness.sandbox.state.profiles[gone_profile].deleted = True  # someone deleted it already
    harness.run()
    assert harness.store.get(kept).state == "cancelled"
    assert harness.store.get(gone).state == "cancelled"
    profiles = {p["id"]: p["deleted"] for p in harness.sent_profiles()}
    assert profiles[harness.store.get(kept).profile_id or ""] is False
    assert profiles[gone_profile] is True
    deleted = next(t for t in harness.store.history(gone) if t.trigger == "delete_profile")
    assert deleted.details == {"deleted": [], "already_gone": [gone_profile]}
    assert [t.to_state for t in harness.store.history(gone)][-2:] == ["cancelling", "cancelled"]


def test_rewind_to_pending_with_delete_at_sent_replaces_the_profile(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """rewind --to pending --delete-at-sent deletes the old profile at Sent and creates a new one;
    without the flag the old one would stay."""
    onboarding = harness.start(samples["demo-prerequisite-pause"])
    harness.run()
    old = harness.store.get(onboarding).profile_id
    spec = dict(samples["demo-prerequisite-pause"])
    spec["profile"] = {**spec["profile"], "description": "Now complete"}
    harness.ops.amend(onboarding, _parse(harness, spec), actor="ops", reason="description added")
    harness.ops.rewind(
        onboarding, "pending", actor="ops", reason="recreate with the description",
        delete_at_sent=True,
    )  # fmt: skip
    assert harness.store.get(onboarding).profile_id is None
    harness.run()
    row = harness.store.get(onboarding)
    assert row.state == "completed"
    profiles = {p["id"]: p for p in harness.sent_profiles()}
    assert profiles[old or ""]["deleted"] is True
    assert row.profile_id != old
    assert profiles[row.profile_id or ""]["description"] == "Now complete"
    assert sum(not p["deleted"] for p in profiles.values()) == 1


def _parse(harness: Harness, raw: dict[str, Any]) -> Any:
    from workflow.core.spec import parse_spec

    return parse_spec(raw, today=harness.clock.now().date())


def _malformed(path_part: str, upstream: httpx.Client) -> httpx.MockTransport:
    """A transport that forwards to the sandbox but garbles the replies to GETs of one path."""

    def handle(request: httpx.Request) -> httpx.Response:
        if path_part in request.url.path and request.method == "GET":
            return httpx.Response(200, json={"success": True, "data": {"id": 42, "status": []}})
        forwarded = upstream.request(
            request.method, request.url, headers=request.headers, content=request.content
        )
        return httpx.Response(
            forwarded.status_code, headers=forwarded.headers, content=forwarded.content
        )

    return httpx.MockTransport(handle)


def test_a_malformed_reply_is_an_attempt_and_pauses_within_its_budget(
    harness: Harness, samples: dict[str, Any], sandbox_url: str
) -> None:
    """A reply that does not parse is retried with backoff on the short budget, then the
    onboarding pauses with UNEXPECTED_RESPONSE and the detail: never an immediate re-run."""
    onboarding = harness.start(samples["demo-inherited"])  # its brand step reads the profile
    upstream = httpx.Client()
    garbling = HttpxSentApi(
        sandbox_url, "sandbox-key", transport=_malformed("/v3/profiles/", upstream)
    )
    harness.executor.api = garbling
    times = []
    for _ in range(40):
        report = harness.executor.run_once(onboarding)
        row = harness.store.get(onboarding)
        if row.state == "needs_attention":
            break
        if report.kind == "retry":
            assert row.next_attempt_at is not None
            assert row.next_attempt_at > harness.clock.now()  # backoff, not a re-claim
            times.append(row.next_attempt_at)
            harness.clock.advance((row.next_attempt_at - harness.clock.now()).total_seconds())
    garbling.close()
    upstream.close()
    row = harness.store.get(onboarding)
    assert (row.state, row.paused_from) == ("needs_attention", "incomplete")
    assert row.last_error is not None
    assert row.last_error["code"] == "UNEXPECTED_RESPONSE"
    assert "not a ProfileDetail" in row.last_error["message"]
    budget = harness.executor.config.retry.max_unexpected
    assert row.last_error["attempts"] == budget
    assert len(times) == budget - 1
    reads = [a for a in harness.store.attempts(onboarding) if a.step == "attach_brand"]
    assert len(reads) == budget


class _Broken:
    def __init__(self, api: HttpxSentApi) -> None:
        self._api = api

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    def create_profile(self, body: Any, *, idempotency_key: str) -> Any:
        raise RuntimeError("a bug in a step")


def test_an_exception_inside_a_step_is_an_attempt_not_a_hot_loop(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """An unexpected exception is a failed attempt with backoff; after the short budget the
    onboarding pauses with STEP_ERROR and the error named."""
    onboarding = harness.start(samples["demo-inherited"])
    harness.executor.api = _Broken(harness.executor.api)  # type: ignore[assignment]
    harness.run()
    row = harness.store.get(onboarding)
    assert (row.state, row.paused_from) == ("needs_attention", "pending")
    assert row.last_error is not None
    assert row.last_error["code"] == "STEP_ERROR"
    assert "RuntimeError: a bug in a step" in row.last_error["message"]
    assert row.last_error["attempts"] == harness.executor.config.retry.max_unexpected
    assert harness.sent_profiles() == []
