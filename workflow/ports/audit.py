"""What checking the audit log reads: heads, rows, orphans, and the store that streams them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    pass

__all__ = ["AuditHead", "AuditRow", "AuditSource", "Orphan"]


class AuditHead(NamedTuple):
    """What a checkpoint says about its log (and where its state should have come from)."""

    id: str
    key: str
    state: str
    paused_from: str | None
    flow_version: int
    audit_seq: int
    audit_head: str
    audit_anchor: str
    version: int


class AuditRow(NamedTuple):
    """One ``transitions`` row, the columns :func:`~workflow.core.audit_chain.row_digest` covers."""

    seq: int
    trigger: str
    from_state: str | None
    to_state: str
    actor: str
    at: Any  # a datetime (naive from SQLite: UTC)
    reason: str | None
    request_id: str | None
    details: Mapping[str, Any] | None
    profile_id: str | None
    batch_id: str | None
    digest: str


class Orphan(NamedTuple):
    """Rows whose onboarding does not exist: how many of each kind, and the log's seq range."""

    onboarding_id: str
    transitions: int
    first_seq: int | None
    last_seq: int | None
    events: int
    attempts: int


class AuditSource(Protocol):
    """A store that streams audit logs (``persistence.SqlStore`` is one)."""

    def audit_logs(
        self, onboarding_id: str | None = None
    ) -> Iterator[tuple[AuditHead, Sequence[AuditRow]]]:
        """Each onboarding's head and rows in ``seq`` order, onboardings in id order."""
        ...

    def find(self, id_or_key: str) -> Any:
        """The checkpoint of the onboarding with this id or key."""
        ...

    def audit_guards(self) -> list[tuple[str, str]]:
        """Each append-only guard that is missing, disabled or altered: (name, sentence)."""
        ...

    def audit_orphans(self) -> Iterator[Orphan]:
        """Rows of the log, the outbox or the attempts whose onboarding does not exist."""
        ...

    def outbox_originals(self, onboarding_id: str) -> dict[int, AuditRow]:
        """The outbox events of one onboarding, by seq, as the rows they were written with."""
        ...
