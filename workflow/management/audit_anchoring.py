"""Anchoring the heads of audit logs written before anchoring existed.

A database upgraded to the release that anchors chain heads holds onboardings whose checkpoint
has no anchor. :func:`anchor_audit` checks each such log (chain, checkpoint, transitions,
replay: everything but the anchor) and, when it is intact, writes the anchor its rows lead to,
so the log is held by the key from then on. A log that fails is left without an anchor and
reported: a person decides what it should say.

Run it once, after upgrading (``onboarding db upgrade`` does when it has the key;
``onboarding audit anchor`` otherwise). Afterwards every writer anchors what it writes, so a
head without an anchor is a finding: its anchor was removed, perhaps to rewrite the log.
Anchoring it again accepts the log as it stands; look at it first (``onboarding audit verify``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from workflow.core.audit_chain import ANCHOR_START
from workflow.management.audit_verify import (
    AuditHead,
    AuditProblem,
    AuditRow,
    check_log,
    transition_tables,
)
from workflow.ports import Anchoring

__all__ = ["AnchorReport", "AnchorStore", "anchor_audit"]

#: Anchors written per transaction.
BATCH = 1000


class AnchorStore(Protocol):
    """A store whose unanchored heads can be read and anchored (``persistence.SqlStore``)."""

    def audit_logs(
        self, onboarding_id: str | None = None, *, unanchored: bool = False
    ) -> Iterator[tuple[AuditHead, Sequence[AuditRow]]]:
        """Each onboarding's head and rows (only heads without an anchor, if asked)."""
        ...

    def write_anchors(self, anchors: Iterable[tuple[str, int, int, str, str]]) -> int:
        """Write ``(id, version, seq, head, anchor)`` where the head is still unanchored."""
        ...

    def find(self, id_or_key: str) -> Any:
        """The checkpoint of the onboarding with this id or key."""
        ...


@dataclass
class AnchorReport:
    """What :func:`anchor_audit` did."""

    anchored: int = 0
    changed: int = 0  # written to meanwhile: left for another run
    refused: list[AuditProblem] = field(default_factory=list)
    refused_logs: int = 0


def anchor_audit(store: AnchorStore, anchoring: Anchoring, key: str | None = None) -> AnchorReport:
    """Anchor every head that has no anchor (or the one onboarding ``key``) whose log is intact.

    Raises:
        OnboardingNotFoundError: no onboarding has the id or key ``key``.
        StoreError: the database failed; anchors written before stay.
    """
    onboarding_id = store.find(key).id if key is not None else None
    tables = transition_tables()
    report = AnchorReport()
    pending: list[tuple[str, int, int, str, str]] = []

    def flush() -> None:
        written = store.write_anchors(pending)
        report.anchored += written
        report.changed += len(pending) - written
        pending.clear()

    for head, rows in store.audit_logs(onboarding_id, unanchored=True):
        problems = check_log(head, rows, tables)
        if problems:
            report.refused_logs += 1
            report.refused += problems
            continue
        anchored = ANCHOR_START
        for row in rows:
            anchored = anchoring.anchor(head.id, row.seq, row.digest, anchored)
        pending.append((head.id, head.version, head.audit_seq, head.audit_head, anchored))
        if len(pending) >= BATCH:
            flush()
    flush()
    return report
