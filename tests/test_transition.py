"""The transition builder: one rule for the engine's and the operators' transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workflow.adapters.vault import FernetVault
from workflow.core.audit_chain import GENESIS, digest
from workflow.core.errors import GuardRejectedError, TransitionError
from workflow.core.rules import Outcome
from workflow.core.transition import Firing, ending_states, transition
from workflow.flows import FLOW
from workflow.ports import UNSET, Checkpoint, CheckpointUpdate

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MACHINE = FLOW.machine
VAULT = FernetVault.generate()


def _checkpoint(state: str, *, paused_from: str | None = None, secrets: bool = True) -> Checkpoint:
    return Checkpoint(
        id="o1", key="k1", fingerprint="f", spec={}, state=state, version=7,
        created_at=NOW - timedelta(hours=1), updated_at=NOW - timedelta(minutes=1),
        paused_from=paused_from, profile_id="p1", has_secrets=secrets,
    )  # fmt: skip


def test_a_terminal_transition_ends_the_onboarding_and_drops_the_secrets() -> None:
    """Concluding sets the state, ``finished_at``, no next attempt, deletes the secrets, and
    chains the audit row after the checkpoint's head, at the checkpoint's version."""
    change = transition(
        _checkpoint("complete"), MACHINE,
        Firing("conclude", "worker:w", NOW, {"outcome": Outcome.COMPLETED}), VAULT,
        update=CheckpointUpdate(next_attempt_at=NOW + timedelta(hours=1)),
    )  # fmt: skip
    assert (change.onboarding_id, change.expected_version, change.at) == ("o1", 7, NOW)
    update = change.update
    assert (update.state, update.finished_at, update.next_attempt_at) == ("completed", NOW, None)
    assert (change.secret, update.has_secrets) == (b"", False)
    entry = change.transition
    assert entry is not None
    assert (entry.trigger, entry.from_state, entry.to_state, entry.actor) == (
        "conclude", "complete", "completed", "worker:w"
    )  # fmt: skip
    assert (entry.seq, entry.profile_id) == (1, "p1")
    assert entry.digest == digest("o1", entry, GENESIS)
    assert change.base is not None
    assert change.base.version == 7


def test_a_step_that_sent_the_secrets_drops_them_and_runs_on_now() -> None:
    """The create succeeded: the secrets go, and the next state's step is due now."""
    change = transition(
        _checkpoint("pending"), MACHINE, Firing("create_profile", "engine", NOW), VAULT,
        update=CheckpointUpdate(profile_id="p2"), sent_secrets=True,
    )  # fmt: skip
    assert (change.update.state, change.update.next_attempt_at) == ("incomplete", NOW)
    assert change.update.finished_at is UNSET
    assert change.secret == b""
    assert change.transition is not None
    assert change.transition.profile_id == "p2"


def test_secrets_stay_while_the_onboarding_waits_off_the_path() -> None:
    """A pause, and an amend while paused, keep the secrets (the create still needs them);
    neither makes the onboarding due."""
    paused = transition(
        _checkpoint("pending"), MACHINE,
        Firing("pause", "engine", NOW, reason="why", details={"code": "X"}), VAULT,
    )  # fmt: skip
    assert (paused.update.state, paused.update.paused_from) == ("needs_attention", "pending")
    assert (paused.secret, paused.update.has_secrets) == (None, UNSET)
    assert paused.update.next_attempt_at is UNSET
    assert paused.transition is not None
    assert paused.transition.reason == "why"
    amended = transition(
        _checkpoint("needs_attention", paused_from="pending"), MACHINE,
        Firing("amend", "ops", NOW, reason="typo"), VAULT,
        update=CheckpointUpdate(has_secrets=True),
    )  # fmt: skip
    assert (amended.update.state, amended.update.paused_from) == ("needs_attention", "pending")
    assert amended.secret is None
    assert amended.update.has_secrets is True


def test_new_secrets_replace_the_old_and_an_update_that_holds_none_drops_them() -> None:
    """An amend's sealed secrets replace the held ones; an update saying none are held (the
    profile exists) deletes them, so ``has_secrets`` always matches what is stored."""
    paused = _checkpoint("needs_attention", paused_from="pending")
    replaced = transition(paused, MACHINE, Firing("amend", "ops", NOW), VAULT, secret=b"sealed")
    assert (replaced.secret, replaced.update.has_secrets) == (b"sealed", True)
    dropped = transition(
        paused, MACHINE, Firing("amend", "ops", NOW), VAULT,
        update=CheckpointUpdate(has_secrets=False),
    )  # fmt: skip
    assert (dropped.secret, dropped.update.has_secrets) == (b"", False)
    none_held = transition(
        _checkpoint("needs_attention", paused_from="pending", secrets=False), MACHINE,
        Firing("amend", "ops", NOW), VAULT, update=CheckpointUpdate(has_secrets=False),
    )  # fmt: skip
    assert none_held.secret is None


def test_a_cancel_ends_the_onboarding_even_through_cancelling() -> None:
    """Cancelling with a deletion at Sent is not terminal yet, but the onboarding is ending:
    the secrets go, and the deletion step is due now."""
    assert "cancelling" in ending_states(MACHINE)
    assert "needs_attention" not in ending_states(MACHINE)
    change = transition(
        _checkpoint("brand"), MACHINE,
        Firing("cancel", "ops", NOW, {"delete_at_sent": True}, reason="r", batch_id="b1"), VAULT,
    )  # fmt: skip
    assert (change.update.state, change.update.next_attempt_at) == ("cancelling", NOW)
    assert change.update.finished_at is UNSET
    assert change.secret == b""
    assert change.transition is not None
    assert change.transition.batch_id == "b1"


def test_a_refused_or_invalid_trigger_builds_nothing() -> None:
    """The machine's guards decide: a refusal and a trigger that does not apply raise."""
    with pytest.raises(GuardRejectedError):
        transition(
            _checkpoint("complete"), MACHINE,
            Firing("conclude", "engine", NOW, {"outcome": "nonsense"}), VAULT,
        )  # fmt: skip
    with pytest.raises(TransitionError):
        transition(_checkpoint("completed"), MACHINE, Firing("resume", "ops", NOW), VAULT)
