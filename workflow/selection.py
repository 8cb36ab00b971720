"""Choosing many onboardings at once: the :class:`Selector` operators build from filters.

A selector is plain data: the store turns it into one query (``persistence.selection``), and
:mod:`workflow.bulk` acts on what it finds. State names come from the flow, never from the
store: the store compares the strings it is given.

Filters combine with AND; the values of one filter (``state=a``, ``state=b``) are
alternatives. :func:`build_selector` checks an operator's filters and raises
:class:`~workflow.errors.SelectionError` naming the filter and the rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Protocol

from workflow.errors import SelectionError
from workflow.ports import Checkpoint

__all__ = [
    "MAX_DURATION",
    "WHERE_KEYS",
    "BatchRecord",
    "Selected",
    "SelectionStore",
    "Selector",
    "build_selector",
    "known_codes",
    "parse_duration",
    "worker_actor",
]

#: The ``--where`` keys, with what each compares.
WHERE_KEYS: Final = {"state": "the state", "paused_from": "the state it paused from"}

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: The longest age an option takes: far beyond any onboarding or event, and within what a
#: date can count back from today.
MAX_DURATION: Final = timedelta(days=3650)


def worker_actor(worker: str) -> str:
    """The audit log's actor for a worker's own transitions (``Worker`` writes this)."""
    return f"worker:{worker}"


@dataclass(frozen=True, slots=True)
class Selector:
    """Which onboardings to act on; an empty filter does not constrain.

    Attributes:
        states: in one of these states.
        paused_from: paused from one of these states.
        codes: ``last_error.code`` is one of these (the pause code; while a step retries, the
            code of its last failure).
        updated_before: not updated since this moment.
        key_prefix: the key starts with this text (case-sensitive).
        worker: the worker whose lease the onboarding is under now (a crashed worker's
            expired lease included, until another worker takes it over).
        actor: whose transition is the newest audit row (an operator, ``worker:W``, ``api``).
        batch_id: one of its audit rows carries this batch id.
        created_since: created at or after this moment.
        created_until: created before this moment.
        ids: only these onboarding ids (used to re-check a selection before acting).
        applicable: ``(state, paused_from)`` pairs the action applies to (set by the bulk
            action from the machine table; ``None``: any).
    """

    states: frozenset[str] = frozenset()
    paused_from: frozenset[str] = frozenset()
    codes: frozenset[str] = frozenset()
    updated_before: datetime | None = None
    key_prefix: str | None = None
    worker: str | None = None
    actor: str | None = None
    batch_id: str | None = None
    created_since: datetime | None = None
    created_until: datetime | None = None
    ids: frozenset[str] = frozenset()
    applicable: frozenset[tuple[str, str | None]] | None = field(default=None)

    @property
    def has_filter(self) -> bool:
        """Whether an operator's filter is set (``applicable`` and ``ids`` do not count)."""
        return bool(
            self.states
            or self.paused_from
            or self.codes
            or self.updated_before is not None
            or self.key_prefix
            or self.worker
            or self.actor
            or self.batch_id
            or self.created_since is not None
            or self.created_until is not None
        )

    def describe(self) -> str:
        """The filters in the operator's words, for messages and the audit log."""
        parts = [f"state={s}" for s in sorted(self.states)]
        parts += [f"paused_from={s}" for s in sorted(self.paused_from)]
        parts += [f"code={c}" for c in sorted(self.codes)]
        if self.updated_before is not None:
            parts.append(f"updated before {self.updated_before.isoformat()}")
        if self.key_prefix:
            parts.append(f"key prefix {self.key_prefix!r}")
        if self.worker:
            parts.append(f"worker {self.worker!r}")
        if self.actor:
            parts.append(f"last actor {self.actor!r}")
        if self.batch_id:
            parts.append(f"batch {self.batch_id}")
        if self.created_since is not None:
            parts.append(f"created from {self.created_since.isoformat()}")
        if self.created_until is not None:
            parts.append(f"created before {self.created_until.isoformat()}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Selected:
    """One selected onboarding, as much as a preview shows."""

    id: str
    key: str
    state: str
    paused_from: str | None
    code: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One bulk action as ``onboarding batches`` lists it.

    Attributes:
        selection: the filters as the operator typed them (or the selector described).
        matched: how many onboardings the selection matched (that the action applies to).
        changed: how many the action changed (each with an audit row carrying ``id``).
        skipped: how many changed since the selection and were left alone.
        finished_at: ``None`` while it runs (or when it stopped on an error).
    """

    id: str
    actor: str
    reason: str
    action: str
    selection: str
    matched: int
    started_at: datetime
    changed: int = 0
    skipped: int = 0
    finished_at: datetime | None = None


class SelectionStore(Protocol):
    """What a bulk action needs from the store beside :class:`~workflow.ports.ManagementStore`."""

    def iter_selected(
        self, selector: Selector, *, page_size: int = 1000
    ) -> Generator[Selected, None, None]:
        """Every matching onboarding, oldest first, fetched a page of rows at a time."""
        ...

    def count_selected(self, selector: Selector) -> int:
        """How many onboardings match ``selector``."""
        ...

    def selected_checkpoints(self, selector: Selector, ids: Sequence[str]) -> list[Checkpoint]:
        """The checkpoints of those ``ids`` that match ``selector`` now."""
        ...

    def record_batch(self, batch: BatchRecord) -> None:
        """Store ``batch``, or its counts and end when it is stored already."""
        ...


def parse_duration(text: str, *, allow_zero: bool = False) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``1.5d``, ``2w`` as a duration, at most :data:`MAX_DURATION`.

    Raises:
        SelectionError: not a positive number (or zero, with ``allow_zero``) followed by s, m,
            h, d or w, or longer than :data:`MAX_DURATION` (3650d).
    """
    match = _DURATION.fullmatch(text.strip())
    amount = float(match.group(1)) if match is not None else -1.0
    if match is None or amount < 0 or (amount == 0 and not allow_zero):
        raise SelectionError(
            f"--older-than {text!r} is not a duration: use a "
            f"{'' if allow_zero else 'positive '}number and s, m, h or d (e.g. 90s, 15m, 2h, "
            "1d; w counts weeks)"
        )
    seconds = amount * _UNITS[match.group(2)]
    if seconds > MAX_DURATION.total_seconds():  # also a number too long for a float (inf)
        raise SelectionError(
            f"--older-than {text!r} is longer than the longest age supported, "
            f"{MAX_DURATION.days}d (ten years)"
        )
    return timedelta(seconds=seconds)


def _where(
    filters: Iterable[str], states: Sequence[str], paused: Sequence[str]
) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {key: set() for key in WHERE_KEYS}
    allowed = {"state": states, "paused_from": paused}
    for text in filters:
        key, sep, value = (part.strip() for part in text.partition("="))
        if not sep or not value:
            raise SelectionError(
                f"--where {text!r} is not key=value: use e.g. --where state=needs_attention "
                f"(keys: {', '.join(WHERE_KEYS)})"
            )
        if key not in WHERE_KEYS:
            raise SelectionError(
                f"--where {key!r} is not a filter key; keys are {', '.join(WHERE_KEYS)} "
                "(and --code, --older-than, --key-prefix, --worker)"
            )
        if value not in allowed[key]:
            raise SelectionError(
                f"--where {key}={value!r}: unknown state; {key} is one of {', '.join(allowed[key])}"
            )
        found[key].add(value)
    return found


def known_codes(codes: Iterable[str], stored: Callable[[str], bool] | None = None) -> list[str]:
    """Pause codes as typed, in any case, as the engine writes them (upper case).

    Args:
        stored: whether some onboarding has this exact code (Sent may send a code it does not
            document: typed exactly as stored, it is taken as it is).

    Raises:
        SelectionError: a code is empty, or neither one of
            :data:`~workflow.observing.PAUSE_CODES` nor (``stored``) a code some onboarding
            has (the message lists the known ones).
    """
    from workflow.observing import PAUSE_CODES

    found = []
    for code in codes:
        name = code.strip()
        if not name:
            raise SelectionError("--code is empty: name a pause code, e.g. COMPLETION_TIMEOUT")
        if name.upper() in PAUSE_CODES:
            found.append(name.upper())
            continue
        if stored is not None and stored(name):
            found.append(name)
            continue
        raise SelectionError(
            f"--code {name!r} is not a pause code; codes are {', '.join(sorted(PAUSE_CODES))}"
        )
    return found


def build_selector(
    *,
    states: Sequence[str],
    paused_states: Sequence[str],
    now: datetime,
    where: Iterable[str] = (),
    codes: Iterable[str] = (),
    older_than: str | None = None,
    key_prefix: str | None = None,
    worker: str | None = None,
    stored: Callable[[str], bool] | None = None,
) -> Selector:
    """A selector from an operator's filters, each checked (``stored``: see
    :func:`known_codes`).

    Args:
        states: every state of the flow (what ``state=`` may name).
        paused_states: the states an onboarding can pause from (what ``paused_from=`` may name).
        now: the moment ``older_than`` counts back from.

    Raises:
        SelectionError: a filter is malformed, names an unknown state, or is empty.
    """
    found = _where(where, states, paused_states)
    chosen_codes = set(known_codes(codes, stored))
    for name, value in (("--key-prefix", key_prefix), ("--worker", worker)):
        if value is not None and not value.strip():
            raise SelectionError(f"{name} is empty: give the text to match, or leave it out")
    return Selector(
        states=frozenset(found["state"]),
        paused_from=frozenset(found["paused_from"]),
        codes=frozenset(chosen_codes),
        updated_before=now - parse_duration(older_than) if older_than is not None else None,
        key_prefix=key_prefix,
        worker=worker.strip() if worker is not None else None,
    )
