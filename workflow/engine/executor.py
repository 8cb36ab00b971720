"""The executor: run the step of a claimed onboarding, one commit per outcome.

For a checkpoint (and its step records) it finds the step of the state in the flow definition
the onboarding started under, runs the first item not yet done, and commits what happened as one
:class:`~workflow.ports.Change`: the records, the API attempts, the checkpoint update and, for a
transition, the chained audit row. The commit returns the new checkpoint, so consecutive steps
of one claim go on from memory; the version check still guards every commit.

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
from datetime import datetime, timedelta
from typing import Any, Final

from workflow.core.audit_chain import chained
from workflow.core.backoff import RetryPolicy
from workflow.core.bounds import MAX_MESSAGE, MAX_REASON, MAX_REQUEST_ID, bounded, optional
from workflow.core.clock import Clock, SystemClock
from workflow.core.errors import (
    CommitFailedError,
    ConcurrencyError,
    GuardRejectedError,
    SecretUnavailableError,
    SentApiError,
    TransitionError,
)
from workflow.core.machine import OnboardingFlow
from workflow.core.redaction import redact
from workflow.core.spec import OnboardingSpec, OrganizationFacts
from workflow.engine.observing import NullObserver, Observer, observe_step
from workflow.flows import FLOW, FLOWS, FlowDefinition, unmet_needs
from workflow.ports import (
    UNSET,
    AuditEntry,
    Change,
    Checkpoint,
    CheckpointUpdate,
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
    Item,
    Need,
    Pause,
    RateWait,
    StepContext,
    StepDefinition,
    Wait,
    endpoint_class,
)

__all__ = ["EngineConfig", "Executor", "StepReport"]

log = logging.getLogger("workflow.engine")
#: Sent caches Idempotency-Key answers for 24 h; past 23 h a create reads before it resends.
KEY_WINDOW: Final = timedelta(hours=23)


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


#: Seconds to wait before sending again a request Sent was still processing under the same
#: Idempotency-Key (409 ``CONFLICT_001``), when it names no ``Retry-After``.
CONFLICT_WAIT: Final = 2.0


@dataclass(frozen=True)
class StepReport:
    """What one :meth:`Executor.advance` did.

    ``kind``: advance, progress, wait, retry, pause, conflict or idle.
    """

    onboarding_id: str
    kind: str
    state: str
    due_now: bool
    checkpoint: Checkpoint | None = None
    records: Sequence[StepRecord] = ()
    released: bool = False
    change: Change | None = None


@dataclass(frozen=True, slots=True)
class _Failure:
    error: SentApiError | None
    code: str
    message: str
    unexpected: bool


class _Progress:
    pass


class _CommitFailedSignal(Exception):
    """The store refused a change (not a concurrency conflict): ``error`` says why."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


_PROGRESS: Final = _Progress()


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
        except _CommitFailedSignal as failed:  # not even the failure could be written
            raise CommitFailedError(
                checkpoint.id,
                f"onboarding {checkpoint.id}: could not commit the outcome of its step nor its "
                f"failure: {_described(failed.error, first_line=True)}",
            ) from failed.error

    def _step(
        self, checkpoint: Checkpoint, records: Sequence[StepRecord], owner: str | None
    ) -> StepReport:
        now = self.clock.now()
        flow = self.flows.get(checkpoint.flow_version)
        if flow is None:
            known = ", ".join(str(v) for v in sorted(self.flows))
            return self._pause(
                checkpoint, [], now, owner,
                Pause(
                    "FLOW_VERSION_UNKNOWN",
                    f"onboarding started under flow version {checkpoint.flow_version}, which "
                    f"this release does not run (it runs {known}); run it with the release that "
                    "started it",
                ),
                (),
            )  # fmt: skip
        step = flow.step_for(checkpoint.state)
        if step is None:
            if owner is not None:
                self.store.release(checkpoint.id, owner)
            return StepReport(
                checkpoint.id, "idle", checkpoint.state, False, None, released=owner is not None
            )
        by_key = {(r.step, r.item): r for r in records if r.generation == checkpoint.generation}
        ctx = self._context(checkpoint, step, by_key, now)
        pending: list[StepRecord] = []
        machine = OnboardingFlow(checkpoint.state, checkpoint.paused_from, definition=flow.machine)
        trigger = flow.machine.step_trigger(checkpoint.state)
        assert trigger is not None
        result: Advance | Wait | Pause | _Progress | _Failure
        try:
            result = self._run_items(ctx, step, machine, trigger, pending)
        except RateWait as waiting:  # no slot free at Sent's pace: not an attempt
            try:
                return self._hold(
                    checkpoint, pending, ctx, now, owner, waiting.slot, waiting.endpoint_class
                )
            except _CommitFailedSignal as failed:
                return self._commit_failed(checkpoint, step, by_key, ctx, now, owner, failed.error)
        except SentApiError as exc:
            result = _Failure(exc, exc.code or "SENT_ERROR", str(exc), exc.unexpected)
        except SecretUnavailableError as exc:
            result = Pause("SECRET_UNAVAILABLE", str(exc))
        except GuardRejectedError as exc:
            result = _refusal(flow, exc)
        except Exception as exc:  # a bug in a step: an attempt on a short budget, never a loop
            log.exception("onboarding %s: step %s failed", checkpoint.id, step.name)
            result = _Failure(None, "STEP_ERROR", _described(exc), True)
        try:
            if isinstance(result, _Progress):
                return self._progress(checkpoint, pending, ctx, now, owner)
            if isinstance(result, _Failure):
                return self._failed(checkpoint, step, pending, ctx, now, owner, result)
            if isinstance(result, Pause):
                return self._pause(checkpoint, pending, now, owner, result, ctx.attempts)
            if isinstance(result, Wait):
                return self._wait(checkpoint, pending, ctx, now, owner, result)
            return self._advanced(
                checkpoint, step, machine, trigger, pending, ctx, now, owner, result
            )
        except _CommitFailedSignal as failed:
            return self._commit_failed(checkpoint, step, by_key, ctx, now, owner, failed.error)

    def _commit_failed(
        self,
        checkpoint: Checkpoint,
        step: StepDefinition,
        records: dict[tuple[str, str], StepRecord],
        ctx: StepContext,
        now: datetime,
        owner: str | None,
        error: Exception,
    ) -> StepReport:
        """The database refused a step's outcome: an attempt with backoff, not a re-run at once.

        Nothing the step did is committed: its calls replay under the same keys, and the item
        whose call may have been applied is marked so (as after a lost reply), from the
        records as they were claimed (``records``).
        """
        why = _described(error, first_line=True)
        log.warning(
            "%s: the outcome could not be committed (%s); trying again after a backoff",
            step.name, why,
            extra=_fields(checkpoint, checkpoint.profile_id, checkpoint.state, "retry"),
        )  # fmt: skip
        ctx.records.clear()
        ctx.records.update(records)
        failure = _Failure(None, "COMMIT_FAILED", why, True)
        try:
            return self._failed(checkpoint, step, [], ctx, now, owner, failure)
        except _CommitFailedSignal:  # the attempts may be what is refused: the failure alone
            return self._failed(checkpoint, step, [], ctx, now, owner, failure, bare=True)

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

    def _flow(self, checkpoint: Checkpoint) -> FlowDefinition | None:
        return self.flows.get(checkpoint.flow_version)

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
            if len(self._specs) > 4096:
                self._specs.popitem(last=False)
        return spec

    def _run_items(
        self,
        ctx: StepContext,
        step: StepDefinition,
        machine: OnboardingFlow,
        trigger: str,
        pending: list[StepRecord],
    ) -> Advance | Wait | Pause | _Progress:
        items = step.items(ctx)
        while True:
            item = next((i for i in items if not _done(ctx, step, i)), None)
            if item is None:
                return step.finish(ctx)
            ctx.item = item
            if item.guard is not None:
                try:
                    machine.check(trigger, **item.guard(ctx))
                except GuardRejectedError:
                    # What the guard judged is not final: a person may fix the cause at Sent,
                    # so after a resume it is computed again (and told it was refused).
                    pure = {i.id for i in items if i.pure}
                    pending[:] = [
                        dataclasses.replace(r, done=False, output={**r.output, "refused": True})
                        if r.item in pure and r.step == step.name
                        else r
                        for r in pending
                    ]
                    raise
            record = ctx.record(step.name, item.id)
            output = None
            if (
                item.creates
                and item.reconcile is not None
                and record is not None
                and _must_read_first(record, ctx.now)
            ):
                found = item.reconcile(ctx, record)
                # Looked: what Sent holds is known now, so the current key may create, unless
                # something may be this onboarding's and nothing proves it (a person decides;
                # until then every run reads Sent first again).
                unproven = isinstance(found, Pause)
                record = dataclasses.replace(record, may_exist=unproven, uncertain=False)
                ctx.records[(step.name, item.id)] = record
                pending.append(record)
                if isinstance(found, Pause):
                    return found
                output = found
            if output is None:
                output = item.perform(ctx)
            done = StepRecord(
                step.name,
                item.id,
                ctx.checkpoint.generation,
                done=True,
                output=output,
                key_seq=record.key_seq if record is not None else 0,
            )
            ctx.records[(step.name, item.id)] = done
            pending.append(done)
            if item.pure or not item.creates:
                # Its call replays under its key if a crash comes before the next commit: the
                # step goes on and commits once (a create commits at once, so the resource it
                # made is recorded before anything else is sent).
                continue
            if any(not _done(ctx, step, i) and not i.pure for i in items):
                return _PROGRESS  # the next item starts from this commit

    # --------------------------------------------------------------- commits
    def _commit(
        self,
        change: Change,
        checkpoint: Checkpoint,
        kind: str,
        records: Sequence[StepRecord] = (),
    ) -> StepReport:
        change = dataclasses.replace(change, base=checkpoint)
        if checkpoint.rate_class is not None and "rate_class" not in change.update.values():
            # The slot held was spent (or the onboarding moved on): it waits for none now.
            change = dataclasses.replace(
                change,
                update=dataclasses.replace(change.update, rate_class=None, rate_slot_at=None),
            )
        try:
            saved = self.store.apply(change)
        except ConcurrencyError:
            # An operator (or a worker that took over an expired lease) wrote first. Sent's side
            # is safe (the same key replays); what Sent answered is kept with the attempts.
            try:
                self.store.record_attempts(checkpoint.id, change.attempts)
            except Exception as exc:  # the conflict stands; the attempts are only a record
                log.warning(
                    "onboarding %s: could not record the attempts of a discarded outcome: %s",
                    checkpoint.id, _described(exc, first_line=True),
                )  # fmt: skip
            return StepReport(
                checkpoint.id, "conflict", checkpoint.state, False, None, change=change
            )
        except Exception as exc:  # StoreError, or a value the driver refused
            raise _CommitFailedSignal(exc) from exc
        due = saved.next_attempt_at is not None and saved.next_attempt_at <= change.at
        released = change.release is not None
        return StepReport(
            saved.id, kind, saved.state, due and not released, saved, records, released, change
        )

    def _progress(
        self,
        checkpoint: Checkpoint,
        pending: list[StepRecord],
        ctx: StepContext,
        now: datetime,
        owner: str | None,
    ) -> StepReport:
        update = CheckpointUpdate(
            attempts=0, step_started_at=None, last_error=None, next_attempt_at=now
        )
        change = Change(
            checkpoint.id, checkpoint.version, now, update, records=pending, attempts=ctx.attempts
        )
        return self._commit(change, checkpoint, "progress", list(ctx.records.values()))

    def _hold(
        self,
        checkpoint: Checkpoint,
        pending: list[StepRecord],
        ctx: StepContext,
        now: datetime,
        owner: str | None,
        until: datetime,
        rate_class: str | None,
    ) -> StepReport:
        """Wait until ``until`` without counting an attempt: for a slot of ``rate_class`` at
        Sent's pace, or (no class) for Sent to finish a request it is still processing."""
        update = CheckpointUpdate(
            next_attempt_at=until,
            rate_class=rate_class,
            rate_slot_at=until if rate_class is not None else None,
        )
        change = Change(
            checkpoint.id, checkpoint.version, now, update, records=pending,
            attempts=ctx.attempts, release=owner,
        )  # fmt: skip
        return self._commit(change, checkpoint, "wait")

    def _wait(
        self,
        checkpoint: Checkpoint,
        pending: list[StepRecord],
        ctx: StepContext,
        now: datetime,
        owner: str | None,
        wait: Wait,
    ) -> StepReport:
        update = dataclasses.replace(
            wait.update,
            attempts=0,
            step_started_at=None,
            last_error=None,
            next_attempt_at=wait.until,
        )
        change = Change(
            checkpoint.id, checkpoint.version, now, update, records=pending,
            attempts=ctx.attempts, release=owner, wake_if_nudged_since=now,
        )  # fmt: skip
        return self._commit(change, checkpoint, "wait")

    def _advanced(
        self,
        checkpoint: Checkpoint,
        step: StepDefinition,
        machine: OnboardingFlow,
        trigger: str,
        pending: list[StepRecord],
        ctx: StepContext,
        now: datetime,
        owner: str | None,
        advance: Advance,
    ) -> StepReport:
        try:
            record = machine.fire(trigger, **advance.kwargs)
        except GuardRejectedError as exc:
            return self._pause(
                checkpoint, pending, now, owner, _refusal(self._flow(checkpoint), exc), ctx.attempts
            )
        terminal = machine.is_terminal
        values = advance.update.values()
        profile_id = values.get("profile_id", checkpoint.profile_id)
        next_at: datetime | None = None if terminal else values.get("next_attempt_at", now)
        update = dataclasses.replace(
            advance.update,
            state=record.to_state,
            paused_from=None,
            attempts=0,
            step_started_at=None,
            last_error=None,
            next_attempt_at=next_at,
            finished_at=now if terminal else UNSET,
            wake_on_callback=values.get("wake_on_callback", False),
        )
        entry = chained(
            checkpoint,
            AuditEntry(
                record.trigger, record.from_state, record.to_state, self.actor, now,
                request_id=optional(advance.request_id, MAX_REQUEST_ID),
                details=dict(advance.details) if advance.details else None,
                profile_id=profile_id,
            ),
            self.vault,
        )  # fmt: skip
        due = next_at is not None and next_at <= now
        change = Change(
            checkpoint.id, checkpoint.version, now, update, entry, records=pending,
            attempts=ctx.attempts,
            secret=b"" if (step.consumes_secrets or terminal) and checkpoint.has_secrets else None,
            release=None if due else owner,
        )  # fmt: skip
        report = self._commit(change, checkpoint, "advance", list(ctx.records.values()))
        if report.kind == "advance":  # only a transition that happened is logged
            log.info(
                "%s: %s -> %s", trigger, record.from_state, record.to_state,
                extra=_fields(checkpoint, profile_id, record.to_state, trigger),
            )  # fmt: skip
        return report

    def _failed(
        self,
        checkpoint: Checkpoint,
        step: StepDefinition,
        pending: list[StepRecord],
        ctx: StepContext,
        now: datetime,
        owner: str | None,
        failure: _Failure,
        *,
        bare: bool = False,
    ) -> StepReport:
        """Commit a failed attempt: a retry after a backoff, or a pause once the budget is spent.

        ``bare``: without the API attempts (when the database refused to store them).
        """
        exc = failure.error
        calls = () if bare else tuple(ctx.attempts)
        if exc is not None and not bare:
            held = self._held_by_sent(ctx, exc, now)
            if held is not None:
                return self._hold(
                    checkpoint, [*pending, *_after_failure(ctx, step, exc, now)], ctx, now,
                    owner, *held,
                )  # fmt: skip
            if not exc.retryable and step.refusal is not None:
                refused = step.refusal(ctx, exc)
                if refused is not None:
                    records = [
                        *_judged_again(ctx, step, pending),
                        *_after_failure(ctx, step, exc, now),
                    ]
                    return self._pause(checkpoint, records, now, owner, refused, calls)
        attempts = checkpoint.attempts + 1
        previous = checkpoint.last_error or {}
        unexpected = int(previous.get("unexpected_attempts", 0)) + (1 if failure.unexpected else 0)
        started = checkpoint.step_started_at or now
        policy = step.retry or self.config.retry
        error: dict[str, Any] = {
            "code": "UNEXPECTED_RESPONSE" if exc is not None and exc.unexpected else failure.code,
            "message": bounded(
                redact(exc.message if exc is not None else failure.message), MAX_MESSAGE
            ),
            "attempts": attempts,
            "unexpected_attempts": unexpected,
        }
        if exc is not None:
            error.update(
                status=exc.status, details=exc.details, request_id=exc.request_id,
                retryable=exc.retryable, sent_code=exc.code,
            )  # fmt: skip
        records = [*pending, *_after_failure(ctx, step, exc, now)]
        retryable = exc is None or exc.retryable
        elapsed = (now - started).total_seconds()
        if not retryable or policy.exhausted(attempts, elapsed, unexpected=failure.unexpected):
            if not retryable:
                why = "non-retryable error"
            else:
                why = f"gave up after {attempts} attempts over {elapsed:.0f}s"
            reason = f"{why}: {redact(str(exc)) if exc is not None else error['message']}"
            return self._pause(
                checkpoint, records, now, owner,
                Pause(str(error["code"]), bounded(reason, MAX_REASON), error), calls,
            )  # fmt: skip
        with self._lock:
            delay = policy.delay(attempts, self._rng, exc.retry_after if exc is not None else None)
        update = CheckpointUpdate(
            attempts=attempts,
            step_started_at=started,
            last_error=error,
            next_attempt_at=now + timedelta(seconds=delay),
        )
        change = Change(
            checkpoint.id, checkpoint.version, now, update, records=records,
            attempts=calls, release=owner,
        )  # fmt: skip
        report = self._commit(change, checkpoint, "retry")
        # Every retry at DEBUG; once at WARNING when a step keeps failing, so an outage shows
        # in the default log without a line per attempt.
        level = logging.WARNING if attempts == STILL_FAILING_AFTER else logging.DEBUG
        if report.kind == "retry" and log.isEnabledFor(level):
            log.log(
                level, "%s failed (attempt %d, %s): %s; next try in %.1fs%s",
                step.name, attempts, error["code"], error["message"], delay,
                " (still failing: it is retried until the step's retry budget ends)"
                if level == logging.WARNING else "",
                extra=_fields(checkpoint, checkpoint.profile_id, checkpoint.state, "retry"),
            )  # fmt: skip
        return report

    def _held_by_sent(
        self, ctx: StepContext, exc: SentApiError, now: datetime
    ) -> tuple[datetime, str | None] | None:
        """When a failure is Sent asking to wait, not an attempt: ``(until, rate class)``.

        A 429 on a paced endpoint class holds the whole class back (``Retry-After``, at least
        one slot) and this onboarding takes a slot after it; a 409 ``CONFLICT_001`` (the same
        Idempotency-Key still being processed) sends again later under the same key.
        """
        if not ctx.attempts:
            return None
        last = ctx.attempts[-1]
        if exc.status == 409 and exc.code == "CONFLICT_001":
            return now + timedelta(seconds=exc.retry_after or CONFLICT_WAIT), None
        kind = endpoint_class(last.method, last.path)
        per_minute = self.config.rate_limits.get(kind)
        if exc.status != 429 or not per_minute or self.limiter is None:
            return None
        pause = max(exc.retry_after or 0.0, 60.0 / per_minute)
        self.limiter.slow_down(kind, now + timedelta(seconds=min(pause, 3600.0)))
        slot = self.limiter.take_slot(kind, per_minute, now, None)
        return (slot or now + timedelta(seconds=pause)), kind

    def _pause(
        self,
        checkpoint: Checkpoint,
        records: Sequence[StepRecord],
        now: datetime,
        owner: str | None,
        pause: Pause,
        attempts: Sequence[Any],
    ) -> StepReport:
        flow = self.flows.get(checkpoint.flow_version)
        machine = OnboardingFlow(
            checkpoint.state,
            checkpoint.paused_from,
            definition=(flow or FLOW).machine,
        )
        try:
            record = machine.fire("pause")
        except TransitionError:
            return StepReport(checkpoint.id, "idle", checkpoint.state, False, None)
        details = {"code": pause.code, **(pause.details or {})}
        update = CheckpointUpdate(
            state=record.to_state,
            paused_from=machine.paused_from,
            next_attempt_at=None,
            wake_on_callback=False,
            last_error={"reason": pause.reason, **details},
        )
        entry = chained(
            checkpoint,
            AuditEntry(
                "pause", record.from_state, record.to_state, self.actor, now,
                reason=pause.reason, details=details, profile_id=checkpoint.profile_id,
            ),
            self.vault,
        )  # fmt: skip
        change = Change(
            checkpoint.id, checkpoint.version, now, update, entry, records=records,
            attempts=tuple(attempts), release=owner,
        )  # fmt: skip
        report = self._commit(change, checkpoint, "pause")
        if report.kind == "pause":  # only a pause that happened is logged
            log.warning(
                "paused in %s (%s): %s", record.from_state, pause.code, pause.reason,
                extra=_fields(checkpoint, checkpoint.profile_id, record.to_state, "pause"),
            )  # fmt: skip
        return report


def _described(exc: BaseException, *, first_line: bool = False) -> str:
    """An exception, bounded, for ``last_error`` and the log, secrets redacted; ``first_line``
    for a database's error (its further lines are advice, or the statement)."""
    text = str(exc).strip()
    if first_line:
        text = text.splitlines()[0] if text else ""
    return bounded(redact(f"{type(exc).__name__}: {text}"), MAX_MESSAGE)


def _done(ctx: StepContext, step: StepDefinition, item: Item) -> bool:
    record = ctx.records.get((step.name, item.id))
    return record is not None and record.done


def _must_read_first(record: StepRecord, now: datetime) -> bool:
    """Whether a create must look at Sent before sending: Sent may not replay what was done."""
    if record.may_exist:
        return True
    expired = record.first_sent_at is not None and now - record.first_sent_at >= KEY_WINDOW
    return record.uncertain and expired


def _after_failure(
    ctx: StepContext, step: StepDefinition, exc: SentApiError | None, now: datetime
) -> list[StepRecord]:
    """The failing item's record after its attempt: what the attempt may have left at Sent."""
    item = ctx.item
    if item is None or item.key_id is None or not ctx.attempts:
        return []
    last = ctx.attempts[-1]
    if last.idempotency_key is None or last.idempotency_key != ctx.key(item):
        return []  # the failing call was a read: nothing changes for the key
    record = ctx.record(step.name, item.id) or StepRecord(
        step.name, item.id, ctx.checkpoint.generation
    )
    if exc is not None and not exc.retryable:
        # Refused: nothing was applied under this key, and Sent may keep answering the refusal
        # for it, so the next attempt (after a person fixed the cause) uses a new key. A refusal
        # because the key was used with another body means the other body may have been applied.
        reused = "Idempotency-Key" in exc.details
        return [
            dataclasses.replace(
                record,
                key_seq=record.key_seq + 1,
                uncertain=False,
                may_exist=record.may_exist or reused,
                first_sent_at=None,
            )
        ]
    return [dataclasses.replace(record, uncertain=True, first_sent_at=record.first_sent_at or now)]


def _judged_again(
    ctx: StepContext, step: StepDefinition, pending: Sequence[StepRecord]
) -> list[StepRecord]:
    """The pending records, with the step's pure items (what was judged) marked refused and not
    done: after a resume they are computed again, from Sent's current view."""
    pure = {i.id for i in step.items(ctx) if i.pure}
    held = {(r.step, r.item) for r in pending}
    judged = [
        r for (name, item), r in ctx.records.items()
        if name == step.name and item in pure and (name, item) not in held
    ]  # fmt: skip
    return [
        dataclasses.replace(r, done=False, output={**r.output, "refused": True})
        if r.item in pure and r.step == step.name
        else r
        for r in [*pending, *judged]
    ]


def _refusal(flow: FlowDefinition | None, exc: GuardRejectedError) -> Pause:
    unmet = []
    for reason in exc.reasons:
        code, _, message = reason.partition(": ")
        unmet.append({"code": code, "message": message or reason})
    pause = flow.guard_pause(exc.trigger) if flow is not None else None
    if pause is not None:
        return Pause(
            pause,
            "prerequisites not met: " + "; ".join(u["message"] for u in unmet),
            {"unmet": unmet},
        )
    return Pause("GUARD", str(exc), {"reasons": list(exc.reasons)})


#: The attempt at which a step that keeps failing is logged at WARNING (once).
STILL_FAILING_AFTER = 5


def _fields(
    checkpoint: Checkpoint, profile_id: str | None, state: str, trigger: str
) -> dict[str, Any]:
    return {
        "onboarding_id": checkpoint.id,
        "key": checkpoint.key,
        "profile_id": profile_id,
        "state": state,
        "trigger": trigger,
    }
