"""The onboardings list's filters, as they sit in the URL: parsed, checked, turned into the
:class:`~workflow.management.selection.Selector` a bulk action on the same filter acts with, and
written back into links (the next page, the bulk dry run)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urlencode

from workflow.core.errors import SelectionError
from workflow.management.selection import Selector, build_selector

__all__ = ["ListFilter", "parse_filter"]

#: The query parameters of a filter, in the order links write them.
FIELDS: Final = ("state", "code", "older_than", "key_prefix", "actor", "batch", "since", "until")


@dataclass(frozen=True)
class ListFilter:
    """The filters of the onboardings list (empty: not set)."""

    states: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    older_than: str = ""
    key_prefix: str = ""
    actor: str = ""
    batch: str = ""
    since: str = ""
    until: str = ""

    def pairs(self) -> list[tuple[str, str]]:
        """The filter as query parameters (what a link carries)."""
        found = [("state", s) for s in self.states] + [("code", c) for c in self.codes]
        for name in FIELDS[2:]:
            value = getattr(self, name)
            if value:
                found.append((name, value))
        return found

    def query(self, **extra: str) -> str:
        """The filter (and ``extra`` parameters) as a URL query string."""
        return urlencode([*self.pairs(), *((k, v) for k, v in extra.items() if v)])

    @property
    def empty(self) -> bool:
        """Whether no filter is set."""
        return not self.pairs()

    def selector(self, now: datetime) -> Selector:
        """The selector of this filter (the one the list pages and bulk actions use).

        Raises:
            SelectionError: a filter is malformed, naming it and the rule.
        """
        from workflow.flows import FLOWS

        found = build_selector(
            states=FLOWS.states, paused_states=FLOWS.active_states, now=now,
            where=[f"state={s}" for s in self.states], codes=self.codes,
            older_than=self.older_than or None, key_prefix=self.key_prefix or None,
        )  # fmt: skip
        since, until = _moment("since", self.since), _moment("until", self.until)
        if since is not None and until is not None and until <= since:
            raise SelectionError("until must be later than since")
        return dataclasses.replace(
            found, actor=self.actor or None, batch_id=self.batch or None,
            created_since=since, created_until=until,
        )  # fmt: skip


def _moment(name: str, value: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise SelectionError(
            f"{name} {value!r} is not an ISO-8601 date or time, e.g. 2026-05-01 or "
            "2026-05-01T12:00 (UTC unless an offset is given)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_filter(params: Mapping[str, Sequence[str]]) -> ListFilter:
    """A filter from query parameters (``{name: [values]}``); blank values are not filters."""

    def one(name: str) -> str:
        values = [v.strip() for v in params.get(name, ()) if v.strip()]
        return values[0][:200] if values else ""

    def many(name: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v.strip()[:64] for v in params.get(name, ()) if v.strip()))

    return ListFilter(
        states=many("state"), codes=many("code"), older_than=one("older_than"),
        key_prefix=one("key_prefix"), actor=one("actor"), batch=one("batch"),
        since=one("since"), until=one("until"),
    )  # fmt: skip
