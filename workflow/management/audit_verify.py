"""Checking the audit log: every chain intact, every checkpoint where its log leads.

For each onboarding, :func:`check_log` (pure: no I/O, no clock) takes its checkpoint's audit
fields (:class:`AuditHead`) and its rows in ``seq`` order (:class:`AuditRow`) and reports each
broken rule as an :class:`AuditProblem` naming the check and the row:

* ``chain``: the rows are numbered 1..n without a gap or a repeat;
* ``digest``: each row's digest, recomputed from its content and the previous row's stored
  digest (:func:`workflow.core.audit_chain.row_digest`), is the one stored, so an altered row is
  named itself (rows after it still chain to its stored digest);
* ``checkpoint``: the checkpoint's ``audit_seq``/``audit_head`` are the last row's, so rows
  removed from the end (or a rewritten tail) show;
* ``transition``: each row is a transition of the onboarding's flow table (or the start);
* ``replay``: replaying the log (:func:`workflow.core.machine.replay`) leads to the checkpoint's
  state, each row starting where the one before ended, and ``paused_from`` agrees;
* ``anchor`` (given the key): the checkpoint's ``audit_anchor`` is the one the log's heads lead
  to (:func:`workflow.core.audit_chain.anchor`), so a log rewritten with every digest recomputed,
  or cut back to an earlier head, shows; ``unanchored``: the checkpoint has no anchor at all.

:func:`verify_audit` feeds it from a store that streams the logs (:class:`AuditSource`), one
onboarding at a time, so memory stays flat whatever the number of rows. It also checks the
database as a whole: the append-only triggers (``trigger``) and rows of the log, the outbox or
the attempts whose onboarding does not exist (``orphan``). A failed ``digest`` or ``anchor``
check is explained where the original row survives (:mod:`workflow.management.audit_explain`).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from workflow.core.audit_chain import ANCHOR_START, GENESIS, row_digest
from workflow.core.machine import PAUSED, TransitionRecord, replay
from workflow.ports.audit import AuditHead, AuditRow, AuditSource, Orphan

if TYPE_CHECKING:
    from workflow.management.audit_explain import Original
    from workflow.ports import Anchoring

__all__ = [
    "AuditHead",
    "AuditProblem",
    "AuditReport",
    "AuditRow",
    "AuditSource",
    "Orphan",
    "check_log",
    "transition_tables",
    "verify_audit",
]

START: Final = "start"


@dataclass(frozen=True, slots=True)
class AuditProblem:
    """One broken rule: which check, of which onboarding's log (``None``: of the database), at
    which row (if one).

    A ``digest`` or ``anchor`` problem about a row also says what the row says now (``row``:
    its fields) and, where the original survives and is proven by its digest or the anchor,
    the fields it had then that differ (``original``) and where that came from (``source``).
    """

    onboarding_id: str | None
    key: str | None
    seq: int | None
    check: str
    message: str
    row: Mapping[str, Any] | None = None
    original: Mapping[str, Any] | None = None
    source: str | None = None

    def __str__(self) -> str:
        where = f"seq {self.seq}: " if self.seq is not None else ""
        if self.onboarding_id is None:
            whose = "database"
        elif self.key is None:
            whose = f"onboarding {self.onboarding_id} (does not exist)"
        else:
            whose = f"onboarding {self.key} ({self.onboarding_id})"
        return f"{whose}: {where}{self.check}: {self.message}"


@dataclass
class AuditReport:
    """The outcome of a verification: what was checked, how long it took, what failed.

    ``problems`` holds every problem found, unless they went to a callback instead.
    """

    onboardings: int = 0
    transitions: int = 0
    failed: int = 0
    problem_count: int = 0
    seconds: float = 0.0
    problems: list[AuditProblem] = field(default_factory=list)
    unanchored: int = 0
    database_problems: int = 0
    anchors_checked: bool = False

    @property
    def ok(self) -> bool:
        """Whether every log checked is intact and agrees with its checkpoint, and the database
        keeps its guards and holds no orphan rows."""
        return self.failed == 0 and self.database_problems == 0

    @property
    def rate(self) -> float:
        """Transitions checked per second."""
        return self.transitions / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """One line: the verdict, what was checked, in how long, how fast."""
        failures = []
        if self.failed:
            failures.append(f"for {self.failed} of {self.onboardings}")
        if self.database_problems:
            failures.append(f"{self.database_problems} database problem(s)")
        verdict = "ok" if self.ok else "FAILED " + " and ".join(failures)
        notes = ""
        if self.unanchored:
            notes += f"; {self.unanchored} not anchored"
        if not self.anchors_checked:
            notes += "; anchors not checked (no key)"
        return (
            f"audit verify: {verdict}: {self.onboardings} onboardings, {self.transitions} "
            f"transitions, {self.seconds:.2f} s, {self.rate:,.0f} transitions/s"
            f"{notes}"
        )


Table = frozenset[tuple[str, str, str]]


def transition_tables() -> dict[int, Table]:
    """Each flow version's transitions as (trigger, from, to) triples."""
    from workflow.flows import FLOWS

    return {
        version: frozenset((t.trigger, t.source, t.dest) for t in flow.machine.transitions)
        for version, flow in FLOWS.items()
    }


def check_log(
    head: AuditHead,
    rows: Sequence[AuditRow],
    tables: Mapping[int, Table],
    anchoring: Anchoring | None = None,
) -> list[AuditProblem]:
    """Every broken rule of one onboarding's log (empty when it is intact).

    Args:
        head: the checkpoint's audit fields.
        rows: its ``transitions`` rows, in ``seq`` order.
        tables: :func:`transition_tables`.
        anchoring: the anchoring key (the vault); without it the anchor is not checked.
    """
    problems: list[AuditProblem] = []

    def problem(seq: int | None, check: str, message: str) -> None:
        problems.append(AuditProblem(head.id, head.key, seq, check, message))

    if anchoring is not None and not head.audit_anchor:
        problem(
            None, "unanchored",
            "the checkpoint holds no anchor: the log was written before anchoring (run "
            "'onboarding audit anchor' once after upgrading) or its anchor was removed",
        )  # fmt: skip
    if not rows:
        problem(None, "chain", f"the log is empty; the checkpoint counts {head.audit_seq} rows")
        return problems
    anchored = _check_chain(head, rows, problem, anchoring)
    if (
        anchored is not None
        and head.audit_anchor
        and not hmac.compare_digest(anchored, head.audit_anchor)
    ):
        problem(
            None, "anchor",
            "the checkpoint's anchor is not the one its log leads to: rows were rewritten, "
            "added or cut by someone without the key (or the key is not the one the log was "
            "anchored with)",
        )  # fmt: skip
    last = rows[-1]
    if head.audit_seq != last.seq:
        problem(
            last.seq, "checkpoint",
            f"the checkpoint's audit_seq is {head.audit_seq} but the log ends at seq {last.seq}",
        )  # fmt: skip
    elif head.audit_head != last.digest:
        problem(last.seq, "checkpoint", "the checkpoint's audit_head is not this row's digest")
    _check_transitions(head, rows, tables.get(head.flow_version), problem)
    _check_replay(head, rows, problem)
    return problems


def _check_transitions(
    head: AuditHead,
    rows: Sequence[AuditRow],
    table: Table | None,
    problem: Callable[[int | None, str, str], None],
) -> None:
    """Check that every row after the first is a transition of the onboarding's flow version."""
    if table is None:
        problem(None, "transition", f"flow version {head.flow_version} is unknown to this code")
        return
    for row in rows[1:]:
        if (row.trigger, row.from_state, row.to_state) not in table:
            problem(
                row.seq, "transition",
                f"{row.trigger!r} from {row.from_state!r} to {row.to_state!r} is not a "
                f"transition of flow version {head.flow_version}",
            )  # fmt: skip


def _check_chain(
    head: AuditHead,
    rows: Sequence[AuditRow],
    problem: Callable[[int | None, str, str], None],
    anchoring: Anchoring | None,
) -> str | None:
    """Check seq and digest of every row; returns the anchor the rows lead to (with a key)."""
    previous, expected = GENESIS, 1
    anchor = None if anchoring is None else anchoring.anchor
    anchored = ANCHOR_START
    for row in rows:
        gap = row.seq != expected
        if row.seq > expected:
            missing = str(expected) if row.seq == expected + 1 else f"{expected}-{row.seq - 1}"
            problem(row.seq, "chain", f"seq {missing} missing before it: rows were deleted")
        elif gap:
            problem(
                row.seq, "chain", f"seq {row.seq} repeated or out of order after {expected - 1}"
            )
        computed = row_digest(
            head.id, row.seq, row.trigger, row.from_state, row.to_state, row.actor, row.at,
            row.reason, row.request_id, row.details, row.profile_id, row.batch_id, previous,
        )  # fmt: skip
        # After a gap the mismatch is expected, and already reported as the gap.
        if computed != row.digest and not gap:
            problem(
                row.seq, "digest",
                "the stored digest does not match the row's content and the previous row's "
                "digest: this row was altered",
            )  # fmt: skip
        if anchor is not None:
            anchored = anchor(head.id, row.seq, row.digest, anchored)
        previous, expected = row.digest, row.seq + 1
    return None if anchor is None else anchored


def _check_replay(
    head: AuditHead, rows: Sequence[AuditRow], problem: Callable[[int | None, str, str], None]
) -> None:
    first = rows[0]
    if first.trigger != START or first.from_state is not None:
        problem(first.seq, "replay", f"the log begins with {first.trigger!r}, not {START!r}")
        return
    records = [TransitionRecord(r.trigger, r.from_state or "", r.to_state, r.seq) for r in rows[1:]]
    try:
        final = replay(records, initial=first.to_state)
    except ValueError:
        state = first.to_state
        for record in records:
            if record.from_state != state:
                problem(
                    record.version, "replay",
                    f"{record.trigger!r} starts from {record.from_state!r} but the log was in "
                    f"{state!r}",
                )  # fmt: skip
                return
            state = record.to_state
        raise  # replay refused a log this walk accepts: a bug, not a finding
    if final != head.state:
        problem(
            rows[-1].seq, "replay",
            f"replaying the log ends in {final!r} but the checkpoint is in {head.state!r}",
        )  # fmt: skip
        return
    paused_from = None
    if final == PAUSED:
        paused_from = next(
            (
                r.from_state
                for r in reversed(rows)
                if r.to_state == PAUSED and r.from_state != PAUSED
            ),
            None,
        )
    if head.paused_from != paused_from:
        problem(
            rows[-1].seq, "replay",
            f"the checkpoint's paused_from is {head.paused_from!r} but the log says "
            f"{paused_from!r}",
        )  # fmt: skip


def verify_audit(
    store: AuditSource,
    key: str | None = None,
    *,
    anchoring: Anchoring | None = None,
    originals: Callable[[str], Mapping[int, Sequence[Original]]] | None = None,
    on_problem: Callable[[AuditProblem], None] | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> AuditReport:
    """Check the audit log of every onboarding (or of the one with id or key ``key``), the
    database's append-only guards, and (for every onboarding) rows whose onboarding is gone.

    Args:
        store: where the logs come from, streamed one onboarding at a time.
        key: only this onboarding (its id or key).
        anchoring: the key the heads are anchored with (the vault); without it anchors are not
            checked, and the report says so.
        originals: more candidates for the original of an altered row, by onboarding id (an
            export); the outbox's events are always tried.
        on_problem: called with each problem as it is found (then the report does not keep
            them, so memory stays flat however many there are).
        timer: seconds, for the report's duration.

    Raises:
        OnboardingNotFoundError: no onboarding has that id or key.
        StoreError: the database failed while reading.
    """
    started = timer()
    onboarding_id = store.find(key).id if key is not None else None
    tables = transition_tables()
    report = AuditReport(anchors_checked=anchoring is not None)
    keep = report.problems.append if on_problem is None else on_problem

    def database(found: Iterable[AuditProblem]) -> None:
        for problem in found:
            report.database_problems += 1
            report.problem_count += 1
            keep(problem)

    guards = store.audit_guards()
    database(AuditProblem(None, None, None, "trigger", message) for _, message in guards)
    for head, rows in store.audit_logs(onboarding_id):
        report.onboardings += 1
        report.transitions += len(rows)
        problems = check_log(head, rows, tables, anchoring)
        if problems:
            if anchoring is not None and not head.audit_anchor:
                report.unanchored += 1
            problems = _explained(store, head, rows, problems, anchoring, originals)
            report.failed += 1
            report.problem_count += len(problems)
            for found in problems:
                keep(found)
    if onboarding_id is None:
        from workflow.management.audit_explain import orphan_problem

        database(orphan_problem(orphan) for orphan in store.audit_orphans())
    report.seconds = timer() - started
    return report


def _explained(
    store: AuditSource,
    head: AuditHead,
    rows: Sequence[AuditRow],
    problems: list[AuditProblem],
    anchoring: Anchoring | None,
    originals: Callable[[str], Mapping[int, Sequence[Original]]] | None,
) -> list[AuditProblem]:
    """``problems``, an altered row's (``digest``, ``anchor``) told what it was altered from."""
    if not any(p.check in ("digest", "anchor") for p in problems):
        return problems
    from workflow.management.audit_explain import explained

    return explained(store, head, rows, problems, anchoring, originals)
