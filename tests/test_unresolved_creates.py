"""amend and rewind never duplicate a create at Sent.

While a create is unresolved (sent and its reply lost or failed, or on the wire now under a
worker's lease), an action that would change its body, or send it again under a new key, is
refused with what to do; afterwards the engine finds what it made by the ids it already knows,
including ids answered to a commit that was refused.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Harness
from tests.ownership_helpers import (
    CAMPAIGN_POST,
    PROFILE_POST,
    cli,
    executed,
    fail_creates,
    heal,
    live_profiles,
    same_content,
    shown,
)
from workflow.adapters.sent_client import HttpxSentApi
from workflow.core.errors import UnresolvedCreateError
from workflow.core.spec import parse_spec


def _spec(harness: Harness, raw: dict[str, Any]) -> Any:
    return parse_spec(raw, today=harness.clock.now().date())


def _write(tmp_path: Path, raw: dict[str, Any]) -> str:
    path = tmp_path / "amended.json"
    path.write_text(json.dumps(raw))
    return str(path)


def _one_campaign(harness: Harness) -> None:
    (profile,) = live_profiles(harness)
    assert len(profile["own_campaigns"]) == 1
    assert executed(harness, "create_campaign") == 1


def _finished(harness: Harness, onboarding: str) -> None:
    row = harness.store.get(onboarding)
    assert row.state in ("completed", "submitted"), (row.state, row.last_error)


def test_amending_the_description_after_a_lost_profile_reply_is_refused_until_resolved(
    harness: Harness, samples: dict[str, Any], tmp_path: Path
) -> None:
    """Lost profile reply, retries spent, 'amend' of the description: refused (the create's
    outcome is unknown); 'resume' resolves it under its key: one profile, listed by 'show'."""
    raw = samples["demo-inherited"]
    fail_creates(harness, PROFILE_POST, lost_first=True)
    onboarding = harness.start(raw)
    harness.run()
    assert harness.store.get(onboarding).paused_from == "pending"
    heal(harness)
    fixed = copy.deepcopy(raw)
    fixed["profile"]["description"] = "Amended description"

    amended = cli(harness, "amend", raw["key"], _write(tmp_path, fixed), "--reason", "typo")
    assert amended.exit_code == 1, amended.output
    assert "the create of profile of onboarding" in amended.output
    assert "resume it first" in amended.output
    assert (
        harness.store.get(onboarding).spec["profile"]["description"]
        == (raw["profile"]["description"])
    )

    harness.ops.resume(onboarding, actor="ops", reason="Sent is back")
    harness.run()
    _finished(harness, onboarding)
    (profile,) = live_profiles(harness)
    assert shown(harness, raw["key"])["profiles_at_sent"] == [profile["id"]]
    assert executed(harness, "create_profile") == 1


def test_amending_a_campaign_whose_create_is_unresolved_is_refused_other_fields_are_not(
    harness: Harness, samples: dict[str, Any], tmp_path: Path
) -> None:
    """Lost campaign reply, retries spent: amending the campaign's name is refused; amending
    the profile's description is not, and keeps the campaign's key, so the resume replays the
    campaign instead of creating a second one."""
    raw = same_content(samples["demo-own-brand-tcr"], "campaigner")  # no secrets to amend
    fail_creates(harness, CAMPAIGN_POST, lost_first=True)
    onboarding = harness.start(raw)
    harness.run()
    assert harness.store.get(onboarding).paused_from == "brand"
    heal(harness)

    renamed = copy.deepcopy(raw)
    renamed["campaigns"][0]["name"] = "Renamed reminders"
    refused = cli(harness, "amend", raw["key"], _write(tmp_path, renamed), "--reason", "name")
    assert refused.exit_code == 1
    assert "the create of campaigns[0] of onboarding" in refused.output

    described = copy.deepcopy(raw)
    described["profile"]["description"] = "Sales, amended"
    harness.ops.amend(onboarding, _spec(harness, described), actor="ops", reason="description")
    harness.ops.resume(onboarding, actor="ops", reason="Sent is back")
    harness.run()
    _finished(harness, onboarding)
    _one_campaign(harness)
    (profile,) = live_profiles(harness)
    assert profile["description"] == "Sales, amended"
    campaign_keys = {
        a.idempotency_key for a in harness.store.attempts(onboarding) if a.item == "campaign-0"
    }
    assert campaign_keys == {f"onb-{onboarding}-campaign-0-g0"}


class _ActsDuringCall:
    """A Sent client through which an operator acts while one call is on the wire (the worker
    holds the onboarding's lease); what the action raised is kept."""

    def __init__(self, api: HttpxSentApi, method: str, act: Callable[[], Any]) -> None:
        self._api = api
        self._method = method
        self._act = act
        self.raised: list[Exception] = []

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._api, name)
        if name != self._method:
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            reply = real(*args, **kwargs)
            act, self._act = self._act, lambda: None  # once
            try:
                act()
            except Exception as exc:
                self.raised.append(exc)
            return reply

        return call


def test_amend_while_the_profile_create_is_on_the_wire_is_refused(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """'amend' while a worker sends the create (still 'pending', so amend applies) is refused:
    no reused-key pause, no second profile after a resume."""
    raw = samples["demo-inherited"]
    onboarding = harness.start(raw)
    fixed = copy.deepcopy(raw)
    fixed["profile"]["description"] = "Amended while creating"
    wire = _ActsDuringCall(
        harness.executor.api,  # type: ignore[arg-type]
        "create_profile",
        lambda: harness.ops.amend(onboarding, _spec(harness, fixed), actor="ops", reason="x"),
    )
    harness.executor.api = wire  # type: ignore[assignment]
    harness.run()
    (refusal,) = wire.raised
    assert isinstance(refusal, UnresolvedCreateError)
    assert "is running onboarding 'demo-inherited'" in str(refusal)
    _finished(harness, onboarding)
    (profile,) = live_profiles(harness)
    assert shown(harness, raw["key"])["profiles_at_sent"] == [profile["id"]]
    assert [t.trigger for t in harness.store.history(onboarding)][:2] == [
        "start", "create_profile"
    ]  # fmt: skip


def test_rewind_while_a_campaign_post_is_on_the_wire_is_refused(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """'rewind --to incomplete' while a worker sends the campaign POST is refused: the
    campaign is created once."""
    raw = samples["demo-own-brand-tcr"]
    onboarding = harness.start(raw)
    wire = _ActsDuringCall(
        harness.executor.api,  # type: ignore[arg-type]
        "create_campaign",
        lambda: harness.ops.rewind(onboarding, "incomplete", actor="ops", reason="again"),
    )
    harness.executor.api = wire  # type: ignore[assignment]
    harness.run()
    (refusal,) = wire.raised
    assert isinstance(refusal, UnresolvedCreateError)
    _finished(harness, onboarding)
    _one_campaign(harness)
    assert "rewind" not in [t.trigger for t in harness.store.history(onboarding)]


def test_the_id_answered_to_a_refused_commit_is_adopted_not_created_again(
    harness: Harness, samples: dict[str, Any]
) -> None:
    """An amend lands while a create is on the wire of a run without a lease (its lease had
    expired): the create's commit is refused, its answered id kept with the attempt. The next
    create (other body, same key) is refused by Sent; the resume then finds the profile by
    that id: one profile, no second create."""
    raw = samples["demo-inherited"]
    onboarding = harness.start(raw)
    fixed = copy.deepcopy(raw)
    fixed["profile"]["description"] = "Amended while creating"
    real = harness.executor.api
    harness.executor.api = _ActsDuringCall(  # type: ignore[assignment]
        real,  # type: ignore[arg-type]
        "create_profile",
        lambda: harness.ops.amend(onboarding, _spec(harness, fixed), actor="ops", reason="x"),
    )
    assert harness.executor.run_once(onboarding).kind == "conflict"
    harness.executor.api = real
    (made,) = live_profiles(harness)
    assert harness.store.resource_ids(onboarding, "create_profile") == [made["id"]]

    harness.run()
    paused = harness.store.get(onboarding)
    assert (paused.state, (paused.last_error or {}).get("code")) == (
        "needs_attention", "VALIDATION_001"
    )  # fmt: skip
    harness.ops.resume(onboarding, actor="ops", reason="the key was used before")
    harness.run()
    _finished(harness, onboarding)
    assert [p["id"] for p in live_profiles(harness)] == [made["id"]]
    assert executed(harness, "create_profile") == 1
    created = next(t for t in harness.store.history(onboarding) if t.trigger == "create_profile")
    assert created.details is not None
    assert (created.details["profile_id"], created.details["proof"]) == (made["id"], "answered")
