"""One operator action on many onboardings: select, preview, confirm, act, report.

:func:`run_bulk` (``Onboardings.bulk``) works in two phases:

1. **Select.** The selector, narrowed to the ``(state, paused_from)`` pairs the machine table
   lets the action fire from, runs in the database a page at a time; the matching ids are
   kept (a few dozen bytes each) with the first rows for a preview. A dry run stops here, as
   does a ``confirm`` callback that says no.
2. **Act.** The kept ids are read again a page at a time, through the same selector: an
   onboarding that changed since and no longer matches is skipped, with the reason (the
   action no longer applies to its state, or it no longer matches a filter). Every other one
   gets its own version-checked commit and audit row, all with the same batch id. A commit
   that loses a race with a worker is decided again on the new checkpoint, if it still
   matches.

Only the ids selected in phase 1 are ever acted on: onboardings that start to match while the
batch runs are left for the next one.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, Final, cast

from workflow.core.errors import (
    AuditAnchorError,
    ConcurrencyError,
    GuardRejectedError,
    SelectionError,
    StoreError,
    TransitionError,
)
from workflow.core.machine import PAUSED, MachineDefinition, OnboardingFlow
from workflow.flows import FLOWS
from workflow.management.decisions import refusal
from workflow.management.selection import BatchRecord, Selected, SelectionStore, Selector
from workflow.ports import Checkpoint

if TYPE_CHECKING:
    from workflow.management.onboardings import Onboardings

__all__ = ["ACTIONS", "BulkReport", "Skipped", "applicable_pairs", "run_bulk"]

#: The operator actions that take a selector.
ACTIONS: Final = ("resume", "retry", "rewind", "cancel")
_RETRIES = 5


@dataclass(frozen=True, slots=True)
class Skipped:
    """A selected onboarding the action was not applied to, and why."""

    id: str
    key: str
    reason: str


@dataclass(frozen=True, slots=True)
class BulkReport:
    """What a bulk action selected and did.

    Attributes:
        selected: how many onboardings matched (and the action applied to) at selection.
        preview: the first of them, oldest first.
        applied: ids of the onboardings changed, each with an audit row carrying ``batch_id``.
        skipped: those that changed between the selection and the action.
        confirmed: ``False`` when the ``confirm`` callback declined (nothing changed).
    """

    action: str
    batch_id: str
    dry_run: bool
    selected: int
    preview: tuple[Selected, ...]
    applied: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    confirmed: bool = True


def applicable_pairs(
    machine: MachineDefinition, action: str, **kwargs: Any
) -> frozenset[tuple[str, str | None]]:
    """Every ``(state, paused_from)`` from which the machine lets ``action`` fire.

    Read from the transition table (guards included, e.g. a rewind only goes back), so the
    selection never lists an onboarding the action would refuse as it stands.
    """
    pairs: set[tuple[str, str | None]] = set()
    for state in machine.states:
        sources: Sequence[str | None] = sorted(machine.active_states) if state == PAUSED else [None]
        for source in sources:
            try:
                OnboardingFlow(state, source, definition=machine).check(action, **kwargs)
            except TransitionError:
                continue
            pairs.add((state, source))
    return frozenset(pairs)


def _checked(ops: Onboardings, action: str, selector: Selector, target: str | None) -> None:
    if action not in ACTIONS:
        raise SelectionError(f"bulk action {action!r} is not one of {', '.join(ACTIONS)}")
    if not selector.has_filter:
        raise SelectionError(
            "a bulk action needs at least one filter (state, paused_from, code, older than, "
            "key prefix, worker); it never acts on every onboarding"
        )
    states = set(FLOWS.states)
    for name, values in (("state", selector.states), ("paused_from", selector.paused_from)):
        unknown = sorted(values - states)
        if unknown:
            raise SelectionError(
                f"{name} {', '.join(map(repr, unknown))} is not a state; states are "
                f"{', '.join(FLOWS.states)}"
            )
    path = ops.flow.machine.path
    if action == "rewind" and target not in path:
        raise TransitionError("rewind", "-", f"rewind --to must be one of: {', '.join(path)}")


def run_bulk(
    ops: Onboardings,
    action: str,
    selector: Selector,
    *,
    actor: str,
    reason: str,
    dry_run: bool = False,
    batch_id: str | None = None,
    target: str | None = None,
    delete_at_sent: bool = False,
    confirm: Callable[[BulkReport], bool] | None = None,
    preview: int = 20,
    page_size: int = 500,
    selection: str | None = None,
) -> BulkReport:
    """Apply ``action`` to every onboarding ``selector`` matches (see the module docstring).

    Args:
        ops: the management API whose store (a ``SelectionStore`` too) holds the onboardings.
        action: ``resume``, ``retry``, ``rewind`` (with ``target``) or ``cancel``.
        dry_run: select and report only; nothing changes.
        batch_id: the id every audit row of this batch carries (a new uuid4 hex if omitted).
        confirm: called with the selection's report before anything changes; ``False``
            stops there.
        preview: how many selected rows the report keeps for display.
        page_size: rows per query, when selecting and when acting.
        selection: the filters as the operator typed them, kept with the batch (by default
            the selector described). A batch that acts is stored (``onboarding batches``)
            before its first change, and its counts and end when it is done.

    Raises:
        SelectionError: no filter, an unknown state or action.
        TransitionError: a blank reason, or a rewind target not on the path.
        StoreError: the database failed; the message says how many were applied before.
    """
    _checked(ops, action, selector, target)
    if not reason.strip():
        raise TransitionError(action, "-", f"{action} needs a reason for the audit log")
    if not hasattr(ops.store, "iter_selected"):
        raise TypeError(f"{type(ops.store).__name__} cannot select onboardings in bulk")
    store = cast(SelectionStore, ops.store)
    options, fired = _arguments(action, target, delete_at_sent)
    scoped, batch = _scoped(selector, action, fired), batch_id or uuid.uuid4().hex
    if dry_run:
        # A count and the first rows: the ids are only needed to act on them.
        with closing(store.iter_selected(scoped, page_size=max(1, preview))) as rows:
            shown = list(islice(rows, preview))
        return BulkReport(action, batch, True, store.count_selected(scoped), tuple(shown))
    ids, shown = _selected(store, scoped, page_size, preview)
    report = BulkReport(action, batch, False, len(ids), tuple(shown))
    if not ids:
        return report
    if confirm is not None and not confirm(report):
        return dataclasses.replace(report, confirmed=False)
    batch_run = _Batch(ops, store, scoped, action, fired, options, actor, reason, batch)
    record = BatchRecord(
        batch, actor, reason, action, selection or selector.describe(), len(ids), ops.clock.now()
    )
    return batch_run.run(record, ids, report, page_size)


def _arguments(
    action: str, target: str | None, delete_at_sent: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``act_on``'s arguments for ``action``, and those the machine fires it with (what decides
    whether it applies)."""
    options: dict[str, Any] = {}
    if action == "cancel":
        options = {"delete_at_sent": delete_at_sent}
    elif action == "rewind":
        options = {"target": target, "delete_at_sent": delete_at_sent}
    fired = {k: v for k, v in options.items() if action == "cancel" or k == "target"}
    return options, fired


def _scoped(selector: Selector, action: str, fired: dict[str, Any]) -> Selector:
    """``selector`` narrowed to the (state, paused_from) pairs ``action`` applies to."""
    pairs = frozenset().union(
        *(applicable_pairs(flow.machine, action, **fired) for flow in FLOWS.values())
    )
    return dataclasses.replace(selector, applicable=pairs)


def _selected(
    store: SelectionStore, scoped: Selector, page_size: int, preview: int
) -> tuple[list[str], list[Selected]]:
    """Every selected id, and the first ``preview`` rows for display."""
    ids: list[str] = []
    shown: list[Selected] = []
    for row in store.iter_selected(scoped, page_size=page_size):
        ids.append(row.id)
        if len(shown) < preview:
            shown.append(row)
    return ids, shown


@dataclass(frozen=True)
class _Batch:
    """One bulk action in progress: acts on one selected onboarding at a time."""

    ops: Onboardings
    store: SelectionStore
    scoped: Selector
    action: str
    fired: dict[str, Any]  # the machine's arguments (what decides whether it applies)
    options: dict[str, Any]  # act_on's arguments
    actor: str
    reason: str
    batch_id: str

    def run(
        self, record: BatchRecord, ids: Sequence[str], report: BulkReport, page_size: int
    ) -> BulkReport:
        """Act on every selected onboarding, a page at a time; the batch is stored before the
        first change, and its counts and end when it is done."""
        applied: list[str] = []
        skipped: list[Skipped] = []
        self.store.record_batch(record)
        try:
            for chunk in _chunks(ids, page_size):
                found = {c.id: c for c in self.store.selected_checkpoints(self.scoped, chunk)}
                for onboarding_id in chunk:
                    outcome = self.one(onboarding_id, found.get(onboarding_id))
                    if isinstance(outcome, Skipped):
                        skipped.append(outcome)
                    else:
                        applied.append(onboarding_id)
        except StoreError as exc:
            raise StoreError(
                f"{exc}; batch {self.batch_id} stopped after applying {len(applied)} of "
                f"{len(ids)} (their audit rows carry the batch id)"
            ) from exc
        finished = dataclasses.replace(
            record, changed=len(applied), skipped=len(skipped), finished_at=self.ops.clock.now()
        )
        self.store.record_batch(finished)
        return dataclasses.replace(report, applied=tuple(applied), skipped=tuple(skipped))

    def one(self, onboarding_id: str, current: Checkpoint | None) -> Checkpoint | Skipped:
        """Act on one selected onboarding (``None``: it no longer matches), or say why not."""
        for _ in range(_RETRIES):
            if current is None:
                return self.why_not(onboarding_id)
            try:
                return self.ops.act_on(
                    current, self.action, actor=self.actor, reason=self.reason,
                    batch_id=self.batch_id, **self.options,
                )  # fmt: skip
            except (TransitionError, AuditAnchorError) as exc:
                return Skipped(current.id, current.key, str(exc))
            except ConcurrencyError:
                # A worker (or another operator) committed since the read: decide again on
                # the new checkpoint, if it still matches.
                again = self.store.selected_checkpoints(self.scoped, [onboarding_id])
                current = again[0] if again else None
        key = current.key if current is not None else onboarding_id
        return Skipped(onboarding_id, key, "kept changing while the batch ran; act on it alone")

    def why_not(self, onboarding_id: str) -> Skipped:
        """Why a selected onboarding no longer matches: the machine's refusal, else a filter."""
        current = self.ops.store.get(onboarding_id)
        flow = FLOWS.get(current.flow_version, self.ops.flow)
        machine = OnboardingFlow(current.state, current.paused_from, definition=flow.machine)
        try:
            machine.check(self.action, **self.fired)
        except GuardRejectedError as exc:
            return Skipped(
                current.id, current.key,
                f"'onboarding {self.action}' no longer applies to onboarding {current.key!r}: "
                + "; ".join(exc.reasons),
            )  # fmt: skip
        except TransitionError:
            return Skipped(current.id, current.key, refusal(current, machine, self.action))
        state = current.state
        if current.paused_from:
            state += f" (paused in {current.paused_from})"
        code = (current.last_error or {}).get("code")
        return Skipped(
            current.id,
            current.key,
            f"changed since it was selected: now {state}"
            + (f", code {code}" if code else "")
            + f", updated {current.updated_at.isoformat()}; it no longer matches the selection",
        )


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
