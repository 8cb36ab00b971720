"""The executor: run the step of a claimed onboarding, one commit per outcome.

For a checkpoint (and its step records) it finds the step of the state in the flow definition
the onboarding started under, runs the first item not yet done (:mod:`workflow.engine.items`),
decides what the outcome means (:mod:`workflow.engine.deciding`, pure) and commits it as one
:class:`~workflow.ports.Change` (:mod:`workflow.engine.committing`): the records, the API
attempts, the checkpoint update and, for a transition, the chained audit row. The commit returns
the new checkpoint, so consecutive steps of one claim go on from memory; the version check still
guards every commit.

Failures are attempts too. Transient ones (Sent unavailable) are retried with backoff until the
step's time budget is spent; a reply of the wrong shape or an error inside a step is retried on
a short budget; a refusal (a non-retryable 4xx) pauses at once, and the refused call's
Idempotency-Key is retired so that a resume sends it under a new one. A commit the database
refuses is a failure too (``COMMIT_FAILED``, on the short budget); when even that cannot be
written, :class:`~workflow.core.errors.CommitFailedError` tells the worker to keep the onboarding
aside. Nothing re-runs at once, and a transition is logged only once it is committed.

Waiting is not failing: a call whose endpoint class has no free slot at Sent's pace (the
:class:`~workflow.ports.RateSlots` shared in the database), a 429 on a paced class (which holds
the whole class back) and a 409 ``CONFLICT_001`` (the same key still being processed) commit a
wait, with the call's attempt recorded but no attempt counted, so they never pause.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflow.core.backoff import RetryPolicy
from workflow.core.clock import Clock, SystemClock
from workflow.core.errors import (
    CommitFailedError,
    GuardRejectedError,
    SecretUnavailableError,
    SentApiError,
)
from workflow.core.machine import MachineDefinition, OnboardingFlow
from workflow.core.spec import OnboardingSpec, OrganizationFacts
from workflow.engine.committing import CommitRefused, StepReport, commit, log_fields
from workflow.engine.deciding import (
    Decision,
    Failure,
    Run,
    advanced,
    after_failure,
    described,
    failed,
    held,
    paused,
    progress,
    refusal,
    waiting,
)
from workflow.engine.items import Progress, held_by_sent, run_items
from workflow.engine.observing import NullObserver, Observer, observe_step
from workflow.flows import FLOW, FLOWS, FlowDefinition, unmet_needs
from workflow.ports import (
    Checkpoint,
    Claim,
    RateSlots,
    SentApi,
    StepRecord,
    Vault,
    WorkerStore,
)
from workflow.steps.base import (
    OWNERSHIP_READS,
    SENT_API,
    Advance,
    Need,
    Pause,
    RateWait,
    StepContext,
    StepDefinition,
    Wait,
)

__all__ = ["EngineConfig", "Executor", "StepReport"]

log = logging.getLogger("workflow.engine")


@dataclass(frozen=True)
class EngineConfig:
    """How the engine behaves.

    Attributes:
        callback_base_url: where Sent can reach the callback receiver (``.../callbacks/{id}``).
        poll_interval: seconds between profile reads while waiting for a completion result.
        completion_timeout: seconds to wait for a result (from the start of each wait).
        retry: the default backoff schedule; a step may declare its own.
        organization: default facts about the parent organization, under each spec's own.
        rate_limits: calls per minute by endpoint class (``complete``, ``write``, ``read``),
            paced across every worker on the database; a class not named is not paced.
    """

    callback_base_url: str = "http://127.0.0.1:8780"
    poll_interval: float = 5.0
    completion_timeout: float = 3600.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    organization: OrganizationFacts = field(default_factory=OrganizationFacts)
    rate_limits: Mapping[str, float] = field(default_factory=dict)


#: Parsed specs kept (the onboardings in flight, most recently used first): one is parsed again
#: in about 0.1 ms, while keeping the specs of thousands of finished onboardings held megabytes.
_SPECS_KEPT = 64


class Executor:
    """Runs steps of claimed onboardings and commits their outcomes; thread-safe.

    Args:
        store: the checkpoint store (its protocol, never a concrete class).
        api: Sent.
        vault: opens sealed secrets, makes callback tokens.
        actor: who the audit log names for the engine's transitions (the worker's id).
        observer: told about every step, attempt and transition (metrics).
    """

    def __init__(
        self,
        store: WorkerStore,
        api: SentApi,
        vault: Vault,
        *,
        clock: Clock | None = None,
        config: EngineConfig | None = None,
        flows: Mapping[int, FlowDefinition] | None = None,
        rng: random.Random | None = None,
        actor: str = "engine",
        observer: Observer | None = None,
        limiter: RateSlots | None = None,
        dependencies: Mapping[Need[Any], object] | None = None,
    ) -> None:
        self.store = store
        self.limiter = (
            limiter if limiter is not None else (store if isinstance(store, RateSlots) else None)
        )
        self.observer: Observer = observer or NullObserver()
        self.api = api
        self.vault = vault
        self.clock = clock or SystemClock()
        self.config = config or EngineConfig()
        self.flows = flows or FLOWS
        #: What steps take from their context beside Sent and the store's reads.
        self.dependencies: Mapping[Need[Any], object] = dict(dependencies or {})
        missing = unmet_needs(self.flows, {SENT_API, OWNERSHIP_READS, *self.dependencies})
        if missing:
            raise ValueError(f"steps need dependencies not given: {'; '.join(missing)}")
        self.actor = actor
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._specs: OrderedDict[tuple[str, str], OnboardingSpec] = OrderedDict()

    # ----------------------------------------------------------------- public
    def callback_url(self, onboarding_id: str) -> str:
        """The ``webHookUrl`` for one onboarding, carrying its secret token."""
        base = self.config.callback_base_url.rstrip("/")
        return f"{base}/callbacks/{onboarding_id}?token={self.vault.callback_token(onboarding_id)}"

    def run_once(self, onboarding_id: str) -> StepReport:
        """Run one step of one onboarding without a lease (tests and tools)."""
        claim = self.store.load(onboarding_id)
        return self.advance(claim.checkpoint, claim.records)

    def run_claim(
        self,
        claim: Claim,
        owner: str,
        *,
        max_steps: int = 20,
        stopping: Callable[[], bool] = lambda: False,
        on_report: Callable[[StepReport], None] | None = None,
    ) -> None:
        """Run a leased onboarding's steps back to back while it stays due; end the lease."""
        checkpoint, records = claim.checkpoint, claim.records
        released = False
        try:
            for _ in range(max_steps):
                report = self.advance(checkpoint, records, owner=owner)
                if on_report is not None:
                    on_report(report)
                released = report.released
                if released or not report.due_now or report.checkpoint is None or stopping():
                    break
                checkpoint, records = report.checkpoint, report.records
        finally:
            if not released:
                self.store.release(checkpoint.id, owner)

    # ------------------------------------------------------------------- step
    def advance(
        self, checkpoint: Checkpoint, records: Sequence[StepRecord], owner: str | None = None
    ) -> StepReport:
        """Run the current step of ``checkpoint`` up to its next commit, and commit it."""
        started = time.perf_counter()
        report = self._advance(checkpoint, records, owner)
        flow = self.flows.get(checkpoint.flow_version)
        step = flow.step_for(checkpoint.state) if flow is not None else None
        observe_step(
            self.observer, checkpoint, step.name if step is not None else checkpoint.state,
            report, time.perf_counter() - started, self.config.completion_timeout,
        )  # fmt: skip
        return report

    def _advance(
        self, checkpoint: Checkpoint, records: Sequence[StepRecord], owner: str | None
    ) -> StepReport:
        try:
            return self._step(checkpoint, records, owner)
        except CommitRefused as failed:  # not even the failure could be written
            raise CommitFailedError(
                checkpoint.id,
                f"onboarding {checkpoint.id}: could not commit the outcome of its step nor its "
                f"failure: {described(failed.error, first_line=True)}",
            ) from failed.error

    def _step(
        self, checkpoint: Checkpoint, records: Sequence[StepRecord], owner: str | None
    ) -> StepReport:
        now = self.clock.now()
        flow = self.flows.get(checkpoint.flow_version)
        if flow is None:
            run = Run(checkpoint, FLOW.machine, self.actor, self.vault, now, owner)
            known = ", ".join(str(v) for v in sorted(self.flows))
            return commit(self.store, run, paused(run, [], Pause(
                "FLOW_VERSION_UNKNOWN",
                f"onboarding started under flow version {checkpoint.flow_version}, which "
                f"this release does not run (it runs {known}); run it with the release that "
                "started it",
            )))  # fmt: skip
        step = flow.step_for(checkpoint.state)
        if step is None:
            if owner is not None:
                self.store.release(checkpoint.id, owner)
            return StepReport(
                checkpoint.id, "idle", checkpoint.state, False, None, released=owner is not None
            )
        by_key = {(r.step, r.item): r for r in records if r.generation == checkpoint.generation}
        ctx = self._context(checkpoint, step, by_key, now)
        run = Run(checkpoint, flow.machine, self.actor, self.vault, now, owner, ctx.attempts, flow)
        try:
            return self._outcome(run, step, ctx, flow.machine)
        except CommitRefused as failed:
            return self._commit_failed(run, step, by_key, ctx, failed.error)

    def _outcome(
        self, run: Run, step: StepDefinition, ctx: StepContext, machine: MachineDefinition
    ) -> StepReport:
        """Run the step's items, then decide what the outcome means and commit it."""
        pending: list[StepRecord] = []
        flow = OnboardingFlow(run.checkpoint.state, run.checkpoint.paused_from, definition=machine)
        trigger = machine.step_trigger(run.checkpoint.state)
        assert trigger is not None
        result: Advance | Wait | Pause | Progress | Failure
        try:
            result = run_items(ctx, step, flow, trigger, pending)
        except RateWait as slot:  # no slot free at Sent's pace: not an attempt
            return commit(self.store, run, held(run, pending, slot.slot, slot.endpoint_class))
        except SentApiError as exc:
            result = Failure(exc, exc.code or "SENT_ERROR", str(exc), exc.unexpected)
        except SecretUnavailableError as exc:
            result = Pause("SECRET_UNAVAILABLE", str(exc))
        except GuardRejectedError as exc:
            result = refusal(exc, run.flow)
        except Exception as exc:  # a bug in a step: an attempt on a short budget, never a loop
            log.exception("onboarding %s: step %s failed", run.checkpoint.id, step.name)
            result = Failure(None, "STEP_ERROR", described(exc), True)
        if isinstance(result, Failure):
            return self._failed(run, step, ctx, pending, result)
        decision: Decision | None
        if isinstance(result, Progress):
            decision = progress(run, pending)
        elif isinstance(result, Pause):
            decision = paused(run, pending, result)
        elif isinstance(result, Wait):
            decision = waiting(run, pending, result)
        else:
            decision = advanced(run, step, trigger, pending, result)
        return commit(self.store, run, decision, ctx.records)

    def _failed(
        self,
        run: Run,
        step: StepDefinition,
        ctx: StepContext,
        pending: Sequence[StepRecord],
        failure: Failure,
    ) -> StepReport:
        """Commit a failed attempt: Sent asking to wait, a retry after a backoff, or a pause."""
        exc = failure.error
        if exc is not None:
            until = held_by_sent(ctx, exc, run.now)
            if until is not None:
                records = [*pending, *after_failure(ctx, step, exc, run.now)]
                return commit(self.store, run, held(run, records, *until))
        policy = step.retry or self.config.retry
        return commit(self.store, run, failed(run, step, ctx, pending, failure, policy, self._draw))

    def _draw(self, policy: RetryPolicy, attempts: int, retry_after: float | None) -> float:
        with self._lock:
            return policy.delay(attempts, self._rng, retry_after)

    def _commit_failed(
        self,
        run: Run,
        step: StepDefinition,
        records: dict[tuple[str, str], StepRecord],
        ctx: StepContext,
        error: Exception,
    ) -> StepReport:
        """The database refused a step's outcome: an attempt with backoff, not a re-run at once.

        Nothing the step did is committed: its calls replay under the same keys, and the item
        whose call may have been applied is marked so (as after a lost reply), from the
        records as they were claimed (``records``).
        """
        why = described(error, first_line=True)
        checkpoint = run.checkpoint
        log.warning(
            "%s: the outcome could not be committed (%s); trying again after a backoff",
            step.name, why,
            extra=log_fields(checkpoint, checkpoint.profile_id, checkpoint.state, "retry"),
        )  # fmt: skip
        ctx.records.clear()
        ctx.records.update(records)
        failure = Failure(None, "COMMIT_FAILED", why, True)
        policy = step.retry or self.config.retry
        try:
            return commit(self.store, run, failed(run, step, ctx, [], failure, policy, self._draw))
        except CommitRefused:  # the attempts may be what is refused: the failure alone
            run = dataclasses.replace(run, attempts=())
            return commit(self.store, run, failed(run, step, ctx, [], failure, policy, self._draw))

    def _context(
        self,
        checkpoint: Checkpoint,
        step: StepDefinition,
        records: dict[tuple[str, str], StepRecord],
        now: datetime,
    ) -> StepContext:
        spec = self._spec(checkpoint)
        organization = self.config.organization
        if spec.organization is not None:
            organization = organization.model_copy(
                update=spec.organization.model_dump(exclude_none=True)
            )
        return StepContext(
            checkpoint=checkpoint,
            spec=spec,
            records=records,
            step=step,
            api=self.api,
            now=now,
            callback_url=lambda: self.callback_url(checkpoint.id),
            organization=organization,
            poll_interval=self.config.poll_interval,
            completion_timeout=self.config.completion_timeout,
            secrets=lambda: self.vault.open(checkpoint.id, self.store.read_secret(checkpoint.id)),
            reads=self.store,
            rate_limits=self.config.rate_limits,
            limiter=self.limiter,
            dependencies=self.dependencies,
        )

    def _spec(self, checkpoint: Checkpoint) -> OnboardingSpec:
        cache_key = (checkpoint.id, checkpoint.fingerprint)
        with self._lock:
            spec = self._specs.get(cache_key)
            if spec is not None:
                self._specs.move_to_end(cache_key)
                return spec
        spec = OnboardingSpec.model_validate(checkpoint.spec)
        with self._lock:
            self._specs[cache_key] = spec
            if len(self._specs) > _SPECS_KEPT:
                self._specs.popitem(last=False)
        return spec
