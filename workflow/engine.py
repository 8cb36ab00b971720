"""The engine: load a checkpoint, run the state's step, commit transition + audit + attempts.

Every change to an onboarding goes through :meth:`Engine._commit`, one database transaction
guarded by the checkpoint's ``version``. Operators' actions (resume, retry, rewind, cancel)
go through the same path, so the audit log is complete and replays to the current state.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from persistence.models import OnboardingRow
from persistence.store import SqlStore
from workflow.clock import Clock, SystemClock
from workflow.errors import (
    ConcurrencyError,
    GuardRejectedError,
    SentApiError,
    SpecConflictError,
    TransitionError,
)
from workflow.machine import PATH, TERMINAL_STATES, OnboardingFlow
from workflow.ports import AuditEntry, SentApi
from workflow.retry import RetryPolicy
from workflow.secrets import FernetVault
from workflow.spec import OnboardingSpec, OrganizationFacts
from workflow.steps import StepContext, StepOutcome, run_step

__all__ = ["Engine", "EngineConfig", "StepReport"]

log = logging.getLogger("workflow.engine")


@dataclass(frozen=True)
class EngineConfig:
    """How the engine behaves.

    Attributes:
        callback_base_url: where Sent can reach the callback receiver (``.../callbacks/{id}``).
        poll_interval: seconds between profile reads while waiting for a completion result.
        completion_timeout: seconds to wait for a result before pausing.
        retry: the backoff schedule for transient failures.
        organization: default facts about the parent organization, merged under each spec's.
    """

    callback_base_url: str = "http://127.0.0.1:8780"
    poll_interval: float = 5.0
    completion_timeout: float = 3600.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    organization: OrganizationFacts = field(default_factory=OrganizationFacts)


@dataclass(frozen=True)
class StepReport:
    """What one :meth:`Engine.run_step` did."""

    onboarding_id: str
    kind: str  # advance, progress, wait, retry, pause, conflict, idle
    state: str
    due_now: bool


class Engine:
    """Starts onboardings and moves them one step at a time; thread-safe."""

    def __init__(
        self,
        store: SqlStore,
        api: SentApi,
        vault: FernetVault,
        *,
        clock: Clock | None = None,
        config: EngineConfig | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.api = api
        self.vault = vault
        self.clock = clock or SystemClock()
        self.config = config or EngineConfig()
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()

    # ------------------------------------------------------------------ start
    def start(self, spec: OnboardingSpec, *, actor: str = "api") -> OnboardingRow:
        """Store a validated spec as a new onboarding, due now. Idempotent on ``spec.key``.

        Raises:
            SpecConflictError: the key was used before with a different spec.
        """
        now = self.clock.now()
        fingerprint = spec.fingerprint()
        onboarding_id = uuid.uuid4().hex
        secrets = spec.secret_values()
        row = OnboardingRow(
            id=onboarding_id, key=spec.key, fingerprint=fingerprint, spec=spec.storable(),
            state="pending", progress={}, next_attempt_at=now, created_at=now, updated_at=now,
            has_secrets=bool(secrets),
        )  # fmt: skip
        entry = AuditEntry("start", None, "pending", actor, now, details={"key": spec.key})
        stored, created = self.store.insert(
            row, entry, self.vault.seal(secrets) if secrets else None
        )
        if not created and stored.fingerprint != fingerprint:
            raise SpecConflictError(
                f"key {spec.key!r} already names onboarding {stored.id} with a different spec; "
                "use a new key, or cancel that onboarding first"
            )
        return stored

    # ------------------------------------------------------------------- step
    def callback_url(self, onboarding_id: str) -> str:
        """The ``webHookUrl`` for one onboarding, carrying its secret token."""
        base = self.config.callback_base_url.rstrip("/")
        return f"{base}/callbacks/{onboarding_id}?token={self.vault.callback_token(onboarding_id)}"

    def run_step(self, onboarding_id: str) -> StepReport:
        """Run the current state's step and commit its outcome (or schedule a retry)."""
        row = self.store.get(onboarding_id)
        if row.state not in PATH:
            return StepReport(onboarding_id, "idle", row.state, False)
        now = self.clock.now()
        spec = OnboardingSpec.model_validate(row.spec)
        organization = OrganizationFacts.model_validate(
            {**self.config.organization.model_dump(exclude_none=True),
             **(spec.organization.model_dump(exclude_none=True) if spec.organization else {})}
        )  # fmt: skip
        ctx = StepContext(
            onboarding_id=row.id, state=row.state, spec=spec, profile_id=row.profile_id,
            progress=dict(row.progress), generation=row.generation, attempt=row.attempts + 1,
            step_started_at=row.step_started_at, completion_deadline=row.completion_deadline,
            api=self.api, vault=self.vault, secret_blob=lambda: self.store.read_secret(row.id),
            now=now, callback_url=self.callback_url(row.id), organization=organization,
            poll_interval=self.config.poll_interval,
            completion_timeout=self.config.completion_timeout, has_secrets=row.has_secrets,
        )  # fmt: skip
        try:
            outcome = run_step(ctx)
        except SentApiError as exc:
            return self._failed(row, ctx, exc, now)
        return self._apply(row, ctx, outcome, now)

    def _apply(
        self, row: OnboardingRow, ctx: StepContext, outcome: StepOutcome, now: datetime
    ) -> StepReport:
        changes: dict[str, Any] = {"updated_at": now}
        entry: AuditEntry | None = None
        delete_secret = outcome.delete_secret
        if outcome.kind == "pause":
            return self._pause(row, ctx, now, outcome.reason or "paused", outcome.details)
        if outcome.kind == "advance":
            flow = OnboardingFlow(state=row.state, paused_from=row.paused_from)
            assert outcome.trigger is not None
            try:
                record = flow.fire(outcome.trigger, **outcome.trigger_kwargs)
            except GuardRejectedError as exc:
                return self._pause(
                    row, ctx, now, str(exc), {"code": "GUARD", "reasons": list(exc.reasons)}
                )
            changes.update(state=flow.state, paused_from=None, attempts=0, step_started_at=None,
                           last_error=None, next_attempt_at=now)  # fmt: skip
            if flow.state in TERMINAL_STATES:
                changes.update(next_attempt_at=None, finished_at=now)
                delete_secret = True
            entry = AuditEntry(
                record.trigger, record.from_state, record.to_state, "engine", now,
                request_id=outcome.request_id, details=outcome.details,
            )  # fmt: skip
        elif outcome.kind == "progress":
            changes.update(attempts=0, step_started_at=None, last_error=None, next_attempt_at=now)
        changes.update(outcome.changes)
        return self._commit(row, ctx, changes, entry, delete_secret, outcome.kind)

    def _failed(
        self, row: OnboardingRow, ctx: StepContext, exc: SentApiError, now: datetime
    ) -> StepReport:
        error = {
            "status": exc.status, "code": exc.code, "message": exc.message,
            "details": exc.details, "request_id": exc.request_id, "retryable": exc.retryable,
        }  # fmt: skip
        started = row.step_started_at or now
        attempts = row.attempts + 1
        if not exc.retryable or self.config.retry.exhausted(
            attempts, (now - started).total_seconds()
        ):
            why = (
                "non-retryable error" if not exc.retryable else f"gave up after {attempts} attempts"
            )
            return self._pause(row, ctx, now, f"{why}: {exc}", {**error, "attempts": attempts})
        with self._rng_lock:
            delay = self.config.retry.delay(attempts, self._rng, exc.retry_after)
        changes = {
            "attempts": attempts, "step_started_at": started, "last_error": error,
            "next_attempt_at": now + timedelta(seconds=delay), "updated_at": now,
        }  # fmt: skip
        return self._commit(row, ctx, changes, None, False, "retry")

    def _pause(
        self,
        row: OnboardingRow,
        ctx: StepContext,
        now: datetime,
        reason: str,
        details: dict[str, Any] | None,
    ) -> StepReport:
        flow = OnboardingFlow(state=row.state, paused_from=row.paused_from)
        record = flow.fire("pause")
        changes = {
            "state": flow.state, "paused_from": flow.paused_from, "next_attempt_at": None,
            "last_error": {"reason": reason, **(details or {})}, "updated_at": now,
        }  # fmt: skip
        entry = AuditEntry(
            "pause",
            record.from_state,
            record.to_state,
            "engine",
            now,
            reason=reason,
            details=details,
        )
        log.warning("onboarding %s paused in %s: %s", row.id, row.state, reason)
        return self._commit(row, ctx, changes, entry, False, "pause")

    def _commit(
        self,
        row: OnboardingRow,
        ctx: StepContext,
        changes: dict[str, Any],
        entry: AuditEntry | None,
        delete_secret: bool,
        kind: str,
    ) -> StepReport:
        try:
            saved = self.store.commit(
                row.id,
                row.version,
                changes,
                entry=entry,
                attempts=ctx.attempts,
                delete_secret=delete_secret,
            )
        except ConcurrencyError:
            # Someone else moved it (an operator, or a worker that took over an expired lease).
            # Sent's side is safe: the same Idempotency-Key replays; keep the attempts for audit.
            self.store.record_attempts(row.id, ctx.attempts)
            return StepReport(row.id, "conflict", row.state, False)
        due_now = saved.next_attempt_at is not None and saved.next_attempt_at <= self.clock.now()
        return StepReport(row.id, kind, saved.state, due_now and saved.state in PATH)

    # -------------------------------------------------------------- operators
    def _operate(
        self,
        id_or_key: str,
        trigger: str,
        actor: str,
        reason: str,
        extra: dict[str, Any],
        **kwargs: Any,
    ) -> OnboardingRow:
        row = self.store.find(id_or_key)
        now = self.clock.now()
        flow = OnboardingFlow(state=row.state, paused_from=row.paused_from)
        record = flow.fire(trigger, **kwargs)
        changes = {"state": flow.state, "paused_from": flow.paused_from, "updated_at": now, **extra}
        if flow.state in PATH:
            changes.setdefault("next_attempt_at", now)
        if flow.state in TERMINAL_STATES:
            changes.update(next_attempt_at=None, finished_at=now)
        details = {"target": kwargs["target"]} if "target" in kwargs else None
        entry = AuditEntry(
            trigger, record.from_state, record.to_state, actor, now, reason=reason, details=details
        )
        return self.store.commit(
            row.id, row.version, changes, entry=entry, delete_secret=flow.state in TERMINAL_STATES
        )

    def resume(self, id_or_key: str, *, actor: str, reason: str) -> OnboardingRow:
        """Resume a paused onboarding where it paused, with a fresh retry budget."""
        extra = {"attempts": 0, "step_started_at": None, "last_error": None}
        return self._operate(id_or_key, "resume", actor, reason, extra)

    def retry(self, id_or_key: str, *, actor: str, reason: str) -> OnboardingRow:
        """Run the current step again now: resume if paused, else skip the backoff wait."""
        row = self.store.find(id_or_key)
        if row.state == "needs_attention":
            return self.resume(id_or_key, actor=actor, reason=reason)
        if row.state not in PATH:
            raise TransitionError(
                "retry", row.state, f"cannot retry onboarding {row.id} in state {row.state!r}"
            )
        now = self.clock.now()
        entry = AuditEntry("retry", row.state, row.state, actor, now, reason=reason)
        changes = {
            "attempts": 0,
            "step_started_at": None,
            "next_attempt_at": now,
            "updated_at": now,
        }
        return self.store.commit(row.id, row.version, changes, entry=entry)

    def rewind(self, id_or_key: str, target: str, *, actor: str, reason: str) -> OnboardingRow:
        """Go back to an earlier state; the steps after it run again under a new key generation.

        Campaigns already created for the profile are kept and not created again. Rewinding to
        ``pending`` forgets the profile (and its campaigns), so the create step makes a new
        profile at Sent; the old one stays there.
        """
        row = self.store.find(id_or_key)
        rerun = {"channels_done", "completion_facts"}  # read and sent again after a rewind
        progress = {} if target == "pending" else {
            k: v for k, v in row.progress.items() if k not in rerun
        }  # fmt: skip
        extra: dict[str, Any] = {
            "generation": row.generation + 1, "progress": progress, "attempts": 0,
            "step_started_at": None, "last_error": None, "predicted_outcome": None,
            "predicted_rule": None, "completion_deadline": None,
        }  # fmt: skip
        if target == "pending":
            extra["profile_id"] = None
        return self._operate(id_or_key, "rewind", actor, reason, extra, target=target)

    def cancel(self, id_or_key: str, *, actor: str, reason: str) -> OnboardingRow:
        """End an onboarding for good; its secrets are deleted. Nothing is deleted at Sent."""
        return self._operate(id_or_key, "cancel", actor, reason, {})
