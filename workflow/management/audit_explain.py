"""What an altered audit row says now, and what it said, where the original survives.

A digest cannot be inverted, but a row's content often survives elsewhere: its outbox event,
written in the same transaction with the same fields (:mod:`persistence.outbox`), and an export
the auditor kept (``onboarding audit verify --against FILE``). A candidate counts as the original
only when the log proves it:

* for a ``digest`` problem: the candidate, chained to the previous row's stored digest, hashes to
  the row's stored digest (the row was edited, its digest left as it was); or, put in place of
  the row before, the row's own content hashes to its stored digest through it (the row before
  was edited and its digest recomputed, this one left);
* for an ``anchor`` problem: with the candidates of one source in place of the rows they differ
  from (and of rows removed, put back), the recomputed chain leads to the anchored head.

Then the problem carries the stored row (``row``) and the fields that differ as they were
(``original``, with ``source``); otherwise only the stored row, and the original cannot be
recovered.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from workflow.core.audit_chain import ANCHOR_START, GENESIS, canonical, canonical_time, row_digest
from workflow.management.audit_verify import AuditHead, AuditProblem, AuditRow, AuditSource, Orphan

if TYPE_CHECKING:
    from workflow.ports import Anchoring

__all__ = [
    "FIELDS",
    "OUTBOX",
    "ExportOriginals",
    "Original",
    "explain",
    "explained",
    "orphan_problem",
    "row_fields",
]

OUTBOX: Final = "outbox event"
#: The fields of a row its digest covers, besides the onboarding and ``seq``.
FIELDS: Final = (
    "trigger", "from_state", "to_state", "actor", "at", "reason", "request_id", "details",
    "profile_id", "batch_id",
)  # fmt: skip

Candidates = Mapping[int, Sequence["Original"]]


class Original(NamedTuple):
    """A candidate for what a row said when it was written, and where it was found."""

    source: str
    row: AuditRow


def row_fields(row: AuditRow) -> dict[str, Any]:
    """The fields of a row as its digest covers them (the time as ISO-8601 UTC)."""
    values = {name: getattr(row, name) for name in FIELDS}
    values["at"] = canonical_time(row.at)
    return values


def _content(row: AuditRow) -> tuple[Any, ...]:
    values = row_fields(row)
    values["details"] = canonical(values["details"])
    return tuple(values.values())


def _differs(stored: AuditRow, original: AuditRow) -> dict[str, Any]:
    now, then = row_fields(stored), row_fields(original)
    return {
        name: then[name]
        for name in FIELDS
        if canonical(now[name]) != canonical(then[name])  # details compare as JSON
    }


def _digest(onboarding_id: str, row: AuditRow, seq: int, previous: str) -> str:
    return row_digest(
        onboarding_id, seq, row.trigger, row.from_state, row.to_state, row.actor, row.at,
        row.reason, row.request_id, row.details, row.profile_id, row.batch_id, previous,
    )  # fmt: skip


def explain(
    head: AuditHead,
    rows: Sequence[AuditRow],
    problems: Sequence[AuditProblem],
    candidates: Candidates,
    anchoring: Anchoring | None,
) -> list[AuditProblem]:
    """``problems`` with what each altered row says now and, where proven, what it said.

    Args:
        head: the checkpoint's audit fields.
        rows: its rows in ``seq`` order.
        problems: what :func:`~workflow.management.audit_verify.check_log` found.
        candidates: candidate originals by ``seq`` (outbox events, export rows).
        anchoring: the anchoring key, to prove candidates against the anchored head.
    """
    index = {row.seq: number for number, row in enumerate(rows)}
    out: list[AuditProblem] = []
    for problem in problems:
        if problem.check == "digest" and problem.seq in index:
            out.append(_digest_original(head, rows, index[problem.seq], problem, candidates))
            continue
        out.append(problem)
        if problem.check == "anchor" and anchoring is not None and head.audit_anchor:
            shown = {p.seq for p in out if p.original is not None}  # digest problems come first
            out += [
                found
                for found in _anchor_originals(head, rows, candidates, anchoring)
                if found.seq not in shown
            ]
    return out


def _digest_original(
    head: AuditHead,
    rows: Sequence[AuditRow],
    number: int,
    problem: AuditProblem,
    candidates: Candidates,
) -> AuditProblem:
    row = rows[number]
    previous = rows[number - 1].digest if number else GENESIS
    for candidate in candidates.get(row.seq, ()):
        if _digest(head.id, candidate.row, row.seq, previous) == row.digest:
            return dataclasses.replace(
                problem, row=row_fields(row), original=_differs(row, candidate.row),
                source=candidate.source,
            )  # fmt: skip
    if number:
        before = rows[number - 1]
        earlier = rows[number - 2].digest if number > 1 else GENESIS
        for candidate in candidates.get(before.seq, ()):
            then = _digest(head.id, candidate.row, before.seq, earlier)
            if then != before.digest and _digest(head.id, row, row.seq, then) == row.digest:
                return AuditProblem(
                    head.id, head.key, before.seq, "digest",
                    f"this row was altered and its digest recomputed: seq {row.seq} still "
                    f"chains to the digest of what the {candidate.source} says",
                    row=row_fields(before), original=_differs(before, candidate.row),
                    source=candidate.source,
                )  # fmt: skip
    return dataclasses.replace(problem, row=row_fields(row))


def _leads_to_anchor(
    head: AuditHead, log: Sequence[AuditRow], replaced: int, anchoring: Anchoring
) -> bool:
    """Whether ``log`` (its first ``replaced`` rows holding every candidate put in) leads to the
    anchored head: its digests recomputed throughout, or up to a row at or after the last one
    replaced and stored after it (rows a writer with the key appended later, chained to the
    rewritten head without knowing)."""
    digests, previous = [], GENESIS
    for row in log:
        previous = _digest(head.id, row, row.seq, previous)
        digests.append(previous)
    prefix = [ANCHOR_START]
    for row, digest in zip(log, digests, strict=True):
        prefix.append(anchoring.anchor(head.id, row.seq, digest, prefix[-1]))
    for recomputed in range(len(log), max(replaced, 1) - 1, -1):
        anchored = prefix[recomputed]
        for row in log[recomputed:]:
            anchored = anchoring.anchor(head.id, row.seq, row.digest, anchored)
        if anchored == head.audit_anchor:
            return True
    return False


def _anchor_originals(
    head: AuditHead, rows: Sequence[AuditRow], candidates: Candidates, anchoring: Anchoring
) -> list[AuditProblem]:
    """The rows one source's candidates prove rewritten or removed (put back, the log leads to
    the anchored head), else every row some candidate differs from, unproven."""
    stored = {row.seq: row for row in rows}
    differing: dict[int, AuditRow] = {}
    for source in dict.fromkeys(c.source for found in candidates.values() for c in found):
        chosen = {s: c.row._replace(seq=s) for s, found in candidates.items() for c in found
                  if c.source == source}  # fmt: skip
        last = max(stored, default=0)
        while last + 1 in chosen:  # events of rows cut from the end
            last += 1
        log: list[AuditRow] = []
        proven: list[AuditProblem] = []
        for seq in range(1, last + 1):
            row, original = stored.get(seq), chosen.get(seq)
            if original is not None and (row is None or _content(original) != _content(row)):
                if row is not None:
                    differing[seq] = row
                log.append(original)
                proven.append(_proven(head, source, row, original))
            elif row is not None:
                log.append(row)
            else:
                break  # a gap nothing fills: this source proves nothing
        replaced = max((seq for seq in range(1, len(log) + 1) if log[seq - 1] is chosen.get(seq)),
                       default=0)  # fmt: skip
        if proven and len(log) == last and _leads_to_anchor(head, log, replaced, anchoring):
            return proven
    unproven = (
        "this row differs from what is kept elsewhere, but neither leads to the anchored head: "
        "the original cannot be recovered"
    )
    return [
        AuditProblem(head.id, head.key, seq, "anchor", unproven, row=row_fields(row))
        for seq, row in sorted(differing.items())
    ]


def _proven(
    head: AuditHead, source: str, stored: AuditRow | None, original: AuditRow
) -> AuditProblem:
    if stored is None:
        return AuditProblem(
            head.id, head.key, original.seq, "anchor",
            f"this row was removed from the log: with what the {source} says put back, the "
            "log leads to the anchored head",
            original=row_fields(original), source=source,
        )  # fmt: skip
    return AuditProblem(
        head.id, head.key, stored.seq, "anchor",
        "this row was rewritten (and the digests after it recomputed): with what the "
        f"{source} says in its place, the log leads to the anchored head",
        row=row_fields(stored), original=_differs(stored, original), source=source,
    )  # fmt: skip


def explained(
    store: AuditSource,
    head: AuditHead,
    rows: Sequence[AuditRow],
    problems: list[AuditProblem],
    anchoring: Anchoring | None,
    originals: Callable[[str], Candidates] | None,
) -> list[AuditProblem]:
    """:func:`explain` with the onboarding's outbox events, then ``originals``', as candidates."""
    candidates: dict[int, list[Original]] = {
        seq: [Original(OUTBOX, row)] for seq, row in store.outbox_originals(head.id).items()
    }
    if originals is not None:
        for seq, more in originals(head.id).items():
            candidates.setdefault(seq, []).extend(more)
    return explain(head, rows, problems, candidates, anchoring)


def orphan_problem(orphan: Orphan) -> AuditProblem:
    """The ``orphan`` problem of rows whose onboarding does not exist."""
    held = []
    if orphan.transitions:
        span = (
            f"seq {orphan.first_seq}"
            if orphan.first_seq == orphan.last_seq
            else f"seq {orphan.first_seq}-{orphan.last_seq}"
        )
        held.append(f"{orphan.transitions} audit row(s) ({span})")
    if orphan.events:
        held.append(f"{orphan.events} outbox event(s)")
    if orphan.attempts:
        held.append(f"{orphan.attempts} attempt(s)")
    return AuditProblem(
        orphan.onboarding_id, None, None, "orphan",
        f"{', '.join(held)} belong to an onboarding that does not exist: its rows were moved "
        "to a made-up id, or the onboarding was deleted",
    )  # fmt: skip


class ExportOriginals:
    """Candidate originals from an export (``onboarding export``'s JSON Lines of transitions).

    The file is read when first needed, keeping only where each onboarding's lines start;
    the lines of an onboarding are read again when it is asked for.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = f"export {path.name}"
        self._offsets: dict[str, list[int]] | None = None

    def _index(self) -> dict[str, list[int]]:
        if self._offsets is None:
            offsets: dict[str, list[int]] = {}
            with self.path.open("rb") as lines:
                position = 0
                for line in lines:
                    found = _transition(line)
                    if found is not None:
                        offsets.setdefault(found[0], []).append(position)
                    position += len(line)
            self._offsets = offsets
        return self._offsets

    def __call__(self, onboarding_id: str) -> dict[int, list[Original]]:
        found: dict[int, list[Original]] = {}
        offsets = self._index().get(onboarding_id, [])
        if not offsets:
            return found
        with self.path.open("rb") as lines:
            for offset in offsets:
                lines.seek(offset)
                parsed = _transition(lines.readline())
                if parsed is not None:
                    found.setdefault(parsed[1].seq, []).append(Original(self.source, parsed[1]))
        return found


def _transition(line: bytes) -> tuple[str, AuditRow] | None:
    """An export line's onboarding and row; ``None`` for anything but a transition."""
    try:
        value = json.loads(line)
        if not isinstance(value, dict) or value.get("kind", "transition") != "transition":
            return None
        row = AuditRow(
            int(value["seq"]), value["trigger"], value.get("from_state"), value["to_state"],
            value["actor"], datetime.fromisoformat(value["at"]), value.get("reason"),
            value.get("request_id"), value.get("details"), value.get("profile_id"),
            value.get("batch_id"), value.get("digest", ""),
        )  # fmt: skip
        return str(value["onboarding_id"]), row
    except (ValueError, KeyError, TypeError):
        return None
