"""Running a step's items, in order, up to the next commit.

:func:`run_items` runs the first item not yet done, then the next, until the step is finished
(its :class:`~workflow.steps.base.Advance`, :class:`~workflow.steps.base.Wait` or
:class:`~workflow.steps.base.Pause`), or a create succeeded and more items follow
(:data:`PROGRESS`: the resource it made is committed before anything else is sent). Each item's
guard runs before its side effects; a create whose key Sent may no longer replay looks at Sent
first (the item's ``reconcile``). The records it writes are appended to ``pending``.
:func:`held_by_sent` tells a failed call that is Sent asking to wait from a failed attempt.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Final

from workflow.core.errors import GuardRejectedError, SentApiError
from workflow.core.machine import OnboardingFlow
from workflow.engine.deciding import refused
from workflow.ports import StepRecord
from workflow.steps.base import (
    Advance,
    Item,
    Output,
    Pause,
    StepContext,
    StepDefinition,
    Wait,
    endpoint_class,
)

__all__ = ["CONFLICT_WAIT", "KEY_WINDOW", "PROGRESS", "Progress", "held_by_sent", "run_items"]

#: Sent caches Idempotency-Key answers for 24 h; past 23 h a create reads before it resends.
KEY_WINDOW: Final = timedelta(hours=23)
#: Seconds to wait before sending again a request Sent was still processing under the same
#: Idempotency-Key (409 ``CONFLICT_001``), when it names no ``Retry-After``.
CONFLICT_WAIT: Final = 2.0


class Progress:
    """An item is done and more follow: commit, then go on."""


PROGRESS: Final = Progress()


def run_items(
    ctx: StepContext,
    step: StepDefinition,
    machine: OnboardingFlow,
    trigger: str,
    pending: list[StepRecord],
) -> Advance | Wait | Pause | Progress:
    """Run the step's items not yet done; what the step came to, or :data:`PROGRESS`.

    Raises:
        GuardRejectedError: an item's guard refused (the pure items' records in ``pending``
            are marked refused, to be judged again after a resume).
    """
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
                pending[:] = refused(step, {i.id for i in items if i.pure}, pending)
                raise
        record = ctx.record(step.name, item.id)
        output: Output | None = None
        if (
            item.creates
            and item.reconcile is not None
            and record is not None
            and _must_read_first(record, ctx.now)
        ):
            record, found = _reconciled(ctx, step, item, record, pending)
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
            return PROGRESS  # the next item starts from this commit


def _reconciled(
    ctx: StepContext,
    step: StepDefinition,
    item: Item,
    record: StepRecord,
    pending: list[StepRecord],
) -> tuple[StepRecord, Output | Pause | None]:
    """Look at Sent before a create: what it found (an output, a pause, or nothing)."""
    assert item.reconcile is not None
    found = item.reconcile(ctx, record)
    # Looked: what Sent holds is known now, so the current key may create, unless something
    # may be this onboarding's and nothing proves it (a person decides; until then every run
    # reads Sent first again).
    record = dataclasses.replace(record, may_exist=isinstance(found, Pause), uncertain=False)
    ctx.records[(step.name, item.id)] = record
    pending.append(record)
    return record, found


def _done(ctx: StepContext, step: StepDefinition, item: Item) -> bool:
    record = ctx.record(step.name, item.id)
    return record is not None and record.done


def _must_read_first(record: StepRecord, now: datetime) -> bool:
    """Whether a create must look at Sent before sending: Sent may not replay what was done."""
    if record.may_exist:
        return True
    expired = record.first_sent_at is not None and now - record.first_sent_at >= KEY_WINDOW
    return record.uncertain and expired


def held_by_sent(
    ctx: StepContext, exc: SentApiError, now: datetime
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
    per_minute = ctx.rate_limits.get(kind)
    if exc.status != 429 or not per_minute or ctx.limiter is None:
        return None
    pause = max(exc.retry_after or 0.0, 60.0 / per_minute)
    ctx.limiter.slow_down(kind, now + timedelta(seconds=min(pause, 3600.0)))
    slot = ctx.limiter.take_slot(kind, per_minute, now, None)
    return (slot or now + timedelta(seconds=pause)), kind
