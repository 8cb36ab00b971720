"""What a step is made of, and what it may use while it runs.

A :class:`StepDefinition` runs in one state of the machine. Its work is a list of
:class:`Item` (sub-steps: the profile, each campaign, the channel PATCH, the prerequisite
facts, the ``/complete`` call); the executor runs the first item that has no ``done`` record in
the onboarding's current generation, records its output, and when every item is done asks the
step's ``finish`` what follows: :class:`Advance` (fire the step's trigger, read from the machine
table), :class:`Wait` (come back later) or :class:`Pause` (a person must look).

Steps never write to the database and never fire the machine; they call Sent through
:meth:`StepContext.call` with Idempotency-Keys from :meth:`StepContext.key`, and return outputs.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from workflow.core.bounds import MAX_CODE, MAX_ID, MAX_REQUEST_ID, bounded, clean, optional
from workflow.core.errors import SentApiError
from workflow.core.redaction import redact
from workflow.ports import (
    AttemptRecord,
    Checkpoint,
    CheckpointUpdate,
    OwnershipReads,
    RateSlots,
    SentApi,
    StepRecord,
)
from workflow.steps.meaning import (
    OWNERSHIP_READS,
    SENT_API,
    Need,
    Result,
    Section,
    StepOutput,
    stored,
)

if TYPE_CHECKING:
    from workflow.core.backoff import RetryPolicy
    from workflow.core.spec import OnboardingSpec, OrganizationFacts

__all__ = [
    "OWNERSHIP_READS",
    "SENT_API",
    "Advance",
    "Item",
    "Need",
    "Outcome",
    "Pause",
    "RateWait",
    "Result",
    "Section",
    "StepContext",
    "StepDefinition",
    "StepOutput",
    "Wait",
    "endpoint_class",
]

T = TypeVar("T")
M = TypeVar("M", bound=StepOutput)
Output = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Advance:
    """Every item is done: fire the step's trigger with ``kwargs`` (its guards' arguments)."""

    kwargs: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] | None = None
    request_id: str | None = None
    update: CheckpointUpdate = field(default_factory=CheckpointUpdate)


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to do until ``until`` (or until a callback wakes the onboarding)."""

    until: datetime
    update: CheckpointUpdate = field(default_factory=CheckpointUpdate)


@dataclass(frozen=True, slots=True)
class Pause:
    """A person must look: ``code`` is stable (``PREREQUISITES``, ``REJECTED`` ...)."""

    code: str
    reason: str
    details: Mapping[str, Any] | None = None


Outcome = Advance | Wait | Pause


class RateWait(Exception):
    """The call's endpoint class has no free slot: wait for ``slot`` (not an attempt)."""

    def __init__(self, endpoint_class: str, slot: datetime) -> None:
        super().__init__(f"waiting for a {endpoint_class} slot at {slot.isoformat()}")
        self.endpoint_class = endpoint_class
        self.slot = slot


def endpoint_class(method: str, path: str) -> str:
    """The rate-limit class of a call: ``complete``, ``write`` (other mutations) or ``read``."""
    if method == "POST" and path.endswith("/complete"):
        return "complete"
    return "read" if method == "GET" else "write"


@dataclass(frozen=True, slots=True)
class Item:
    """One sub-step.

    Attributes:
        id: stable within its step (``profile``, ``campaign-0``, ``channels``).
        run: does the work (at most one mutation at Sent) and returns the output to record.
        key_id: the stable name in this item's Idempotency-Key (``campaign`` for ``campaign-2``).
        index: the number in the key (the campaign's position in the spec).
        creates: the mutation creates a resource that a lost reply could leave behind unseen.
        reconcile: for ``creates`` items, find what an earlier attempt made when Sent may no
            longer replay its key: the output to adopt when it is proven this onboarding's
            (:mod:`workflow.steps.ownership`), ``None`` when nothing is there, a
            :class:`Pause` listing the candidates when something may be and nothing is proven.
        guard: the step trigger's arguments that must be allowed before this item runs (guards
            run before side effects).
        pure: no call at all; recorded together with the next commit.

    ``run`` returns a mapping or a :class:`StepOutput` model (stored as its JSON object).
    """

    id: str
    run: Callable[[StepContext], Output | StepOutput]
    key_id: str | None = None
    index: int = 0
    creates: bool = False
    reconcile: Callable[[StepContext, StepRecord], Output | Pause | None] | None = None
    guard: Callable[[StepContext], Mapping[str, Any]] | None = None
    pure: bool = False

    def perform(self, ctx: StepContext) -> Output:
        """Run the item; its output as stored."""
        return stored(self.run(ctx))


@dataclass(frozen=True)
class StepDefinition:
    """A step: its items, what follows them, its retry policy, and everything it means to the
    rest of the engine.

    Neither the state it runs in nor the trigger it fires is named here: the flow definition
    (:mod:`workflow.flows`) places the step, and the executor reads the trigger from the table.
    ``consumes_secrets``: once it advances, the onboarding's sealed secrets are deleted.
    ``refusal``: reads a refusal from Sent (``/complete``'s 400 naming the unmet
    prerequisites pauses with ``PREREQUISITES``).

    What operators and the flow definition ask of it:

    * ``sections``: the spec sections it sends (an amend of one it sent is listed as already
      sent; ``rewind --to`` its state sends it again).
    * ``needs``: the dependencies it takes from :meth:`StepContext.dependency`.
    * ``creates_profile``: it creates the onboarding's profile; a rewind into it forgets the
      profile (and may delete it at Sent first, through its ``delete-previous`` item).
    * ``amend_update``: its item that PATCHes profile fields an amend changed after the create
      sent them (an amend queues it while the step is still ahead).
    * ``amend_rejudge``: its pure item judged again from Sent after such a PATCH.
    * ``rewind_resend``: its items a rewind into or past it sends again under the new
      generation's key (requests, not resources: never looked up at Sent first); every other
      item that was done or may have been applied is looked up at Sent before it runs again.
    * ``guard_pause``: the pause code when its trigger's guard refuses (``PREREQUISITES``).
    """

    name: str
    items: Callable[[StepContext], Sequence[Item]]
    finish: Callable[[StepContext], Outcome]
    retry: RetryPolicy | None = None
    consumes_secrets: bool = False
    description: str = ""
    #: What a refusal from Sent (a non-retryable error) means for this step, when it means
    #: more than the error itself: a :class:`Pause` with its own code, or ``None``.
    refusal: Callable[[StepContext, SentApiError], Pause | None] | None = None
    sections: tuple[Section, ...] = ()
    needs: tuple[Need[Any], ...] = ()
    creates_profile: bool = False
    amend_update: str | None = None
    amend_rejudge: str | None = None
    rewind_resend: frozenset[str] = frozenset()
    guard_pause: str | None = None


class StepContext:
    """Everything a step may use; it collects the API attempts the step makes.

    ``dependencies`` is the open set a step takes what it ``needs`` from
    (:meth:`dependency`); ``api`` and ``reads`` are in it as :data:`SENT_API` and
    :data:`OWNERSHIP_READS`.
    """

    def __init__(
        self,
        *,
        checkpoint: Checkpoint,
        spec: OnboardingSpec,
        records: dict[tuple[str, str], StepRecord],
        step: StepDefinition,
        api: SentApi,
        now: datetime,
        callback_url: Callable[[], str],
        organization: OrganizationFacts,
        poll_interval: float,
        completion_timeout: float,
        secrets: Callable[[], dict[str, str]],
        reads: OwnershipReads,
        rate_limits: Mapping[str, float] | None = None,
        limiter: RateSlots | None = None,
        dependencies: Mapping[Need[Any], object] | None = None,
    ) -> None:
        self.checkpoint = checkpoint
        self.spec = spec
        self.records = records
        self.step = step
        self.api = api
        self.now = now
        self.callback_url = callback_url
        self.organization = organization
        self.poll_interval = poll_interval
        self.completion_timeout = completion_timeout
        self.secrets = secrets
        self.reads = reads
        self.attempts: list[AttemptRecord] = []
        self.item: Item | None = None
        self.rate_limits: Mapping[str, float] = rate_limits or {}
        self.limiter = limiter
        self.dependencies: Mapping[Need[Any], object] = {
            SENT_API: api, OWNERSHIP_READS: reads, **(dependencies or {})
        }  # fmt: skip
        #: The slot this run holds, until a call of its class spends it.
        self._held: tuple[str, datetime] | None = (
            (checkpoint.rate_class, checkpoint.rate_slot_at)
            if checkpoint.rate_class is not None and checkpoint.rate_slot_at is not None
            else None
        )

    @property
    def sent_api(self) -> str:
        """The Sent API revision this onboarding started under."""
        return self.checkpoint.sent_api

    def _pace(self, method: str, path: str) -> None:
        """Take a slot of the call's endpoint class, or raise :class:`RateWait`."""
        kind = endpoint_class(method, path)
        per_minute = self.rate_limits.get(kind)
        if not per_minute or self.limiter is None:
            return
        held = None
        if self._held is not None and self._held[0] == kind:
            held = self._held[1]
            self._held = None
        slot = self.limiter.take_slot(kind, per_minute, self.now, held)
        if slot is not None:
            raise RateWait(kind, slot)

    @property
    def profile_id(self) -> str:
        """The profile this onboarding acts on (steps after the create only)."""
        profile_id = self.checkpoint.profile_id
        if profile_id is None:
            raise RuntimeError("no profile id: this step runs only after the profile is created")
        return profile_id

    def dependency(self, need: Need[T]) -> T:
        """The dependency ``need`` names (the worker checked it is there before it started)."""
        try:
            return self.dependencies[need]  # type: ignore[return-value]
        except KeyError:
            raise LookupError(f"step {self.step.name} needs {need.name}: not provided") from None

    def result(self, where: Result[M]) -> M | None:
        """A done item's output as its model, or ``None``."""
        return where.parse(self.output(where.step, where.item))

    def record(self, step: str, item: str) -> StepRecord | None:
        """The record of one item in the current generation, done or not."""
        return self.records.get((step, item))

    def output(self, step: str, item: str) -> Output | None:
        """The output of a done item, or ``None``."""
        record = self.records.get((step, item))
        return record.output if record is not None and record.done else None

    def outputs(self, step: str) -> dict[str, Output]:
        """Every done item's output of one step, by item id."""
        return {
            item: record.output
            for (name, item), record in self.records.items()
            if name == step and record.done
        }

    def key(self, item: Item | None = None) -> str:
        """The Idempotency-Key of (onboarding, step item, generation): the same on every retry.

        It moves on (``-r1``, ``-r2`` ...) only after Sent refused the previous key outright.
        """
        item = item or self.item
        assert item is not None
        assert item.key_id is not None
        record = self.records.get((self.step.name, item.id))
        seq = record.key_seq if record is not None else 0
        key = f"onb-{self.checkpoint.id}-{item.key_id}-{item.index}-g{self.checkpoint.generation}"
        return f"{key}-r{seq}" if seq else key

    def found(self, resource_id: str) -> None:
        """Name, on the last attempt (the lookup that proved it), the resource it found to be
        this item's own: every resource an onboarding holds is named by one of its attempts,
        kept even when the step's outcome cannot be committed."""
        self.attempts[-1] = dataclasses.replace(self.attempts[-1], resource_id=resource_id)

    def call(
        self,
        method: str,
        path: str,
        fn: Callable[[], T],
        *,
        key: str | None = None,
        resource: Callable[[T], str | None] | None = None,
        content: str | None = None,
    ) -> T:
        """Run one API call, recording it (status, code, request id, latency) either way.

        ``resource`` names the id a create answered, so it is kept even when the step's
        outcome cannot be committed (an operator acted meanwhile); ``content`` is the digest of
        the non-secret content a create sends, kept with the attempt either way. What the
        attempt keeps of the reply is bounded to its columns whatever the client did: an id that
        does not fit is left out rather than cut (a cut id would name another resource).
        """
        self._pace(method, path)
        started = time.perf_counter()
        base = AttemptRecord(
            step=self.step.name,
            attempt=self.checkpoint.attempts + 1,
            method=method,
            path=path,
            at=self.now,
            latency_ms=0.0,
            outcome="ok",
            idempotency_key=key,
            item=self.item.id if self.item is not None else None,
            generation=self.checkpoint.generation,
            content_digest=content,
        )
        try:
            result = fn()
        except SentApiError as exc:
            self.attempts.append(
                dataclasses.replace(
                    base,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    outcome="retry" if exc.retryable else "failed",
                    http_status=exc.status,
                    error_code=optional(exc.code, MAX_CODE),
                    request_id=optional(exc.request_id, MAX_REQUEST_ID),
                    message=bounded(redact(exc.message), 500),
                )
            )
            raise
        made = resource(result) if resource is not None else None
        self.attempts.append(
            dataclasses.replace(
                base,
                latency_ms=(time.perf_counter() - started) * 1000,
                http_status=getattr(result, "status", 200),
                request_id=optional(getattr(result, "request_id", None), MAX_REQUEST_ID),
                replayed=bool(getattr(result, "replayed", False)),
                resource_id=made if made is not None and _storable_id(made) else None,
            )
        )
        return result


def _storable_id(value: str) -> bool:
    return 0 < len(value) <= MAX_ID and clean(value) == value
