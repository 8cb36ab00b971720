"""Selections on the command line: the filter options of resume, retry, rewind and cancel, and
how a bulk action is previewed, confirmed and reported.

Exit codes of an action on a selection:

* 0: every selected onboarding was changed (or ``--dry-run``, or nothing matched);
* 1: an error (the message says what changed, if anything), or the confirmation was declined;
* 2: a usage error: a malformed filter, an unknown state, an id and filters together, neither;
* 3: some onboardings were skipped because they changed between the selection and the
  action; each is listed with the reason, every other one was changed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from workflow.cli.wiring import KeyWhenNeeded, echo, fail, open_store
from workflow.core.clock import SystemClock

if TYPE_CHECKING:
    from workflow.management.bulk import BulkReport
    from workflow.management.onboardings import Onboardings
    from workflow.ports.selection import Selector

__all__ = [
    "EXIT_CODES",
    "SKIPPED_EXIT",
    "Code",
    "DryRun",
    "Filters",
    "KeyPrefix",
    "OlderThan",
    "Where",
    "WorkerFilter",
    "Yes",
    "run_action",
]

#: The exit code when some selected onboardings were skipped.
SKIPPED_EXIT: Final = 3
#: How many selected rows are shown before "... and N more".
PREVIEW_ROWS: Final = 20
EXIT_CODES: Final = (
    "Select with --where/--code/--older-than/--key-prefix/--worker instead of naming one "
    "onboarding: the matches are listed (first 20) and, after confirmation (--yes skips it; "
    "required when stdin is not a terminal), each is changed with its own audit row, all with "
    "one printed batch id. Exit 0: all changed (or --dry-run); 1: error or declined; 2: bad "
    "options; 3: some skipped because they changed since the selection (listed with the reason)."
)
_DONE: Final = {
    "resume": "resumed", "retry": "retried", "rewind": "rewound", "cancel": "cancelled",
}  # fmt: skip

Where = Annotated[
    list[str] | None,
    typer.Option(
        "--where", metavar="KEY=VALUE",
        help="Select by state=S or paused_from=S (repeatable; one key's values are alternatives).",
    ),
]  # fmt: skip
Code = Annotated[
    list[str] | None,
    typer.Option(
        "--code", metavar="CODE",
        help="Select by the pause code (last_error.code), e.g. COMPLETION_TIMEOUT (repeatable).",
    ),
]  # fmt: skip
OlderThan = Annotated[
    str | None,
    typer.Option(
        "--older-than", metavar="AGE", help="Select those not updated for AGE: 90s, 15m, 2h, 1d."
    ),
]
KeyPrefix = Annotated[
    str | None,
    typer.Option("--key-prefix", metavar="P", help="Select keys starting with P (case-sensitive)."),
]
WorkerFilter = Annotated[
    str | None,
    typer.Option(
        "--worker", metavar="W",
        help="Select those whose lease worker W holds (an expired one too), or whose newest "
        "audit row W's engine wrote (an operator acting since takes it out).",
    ),
]  # fmt: skip
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="List what the selection matches; change nothing.")
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Act on the selection without asking.")]


@dataclass(frozen=True)
class Filters:
    """The selection options as typed."""

    where: list[str] | None = None
    codes: list[str] | None = None
    older_than: str | None = None
    key_prefix: str | None = None
    worker: str | None = None

    def typed(self) -> str:
        """The options as the operator typed them (for the batch's record)."""
        import shlex

        words: list[str] = []
        for where in self.where or ():
            words += ["--where", where]
        for code in self.codes or ():
            words += ["--code", code]
        for name, value in (
            ("--older-than", self.older_than),
            ("--key-prefix", self.key_prefix),
            ("--worker", self.worker),
        ):
            if value is not None:
                words += [name, value]
        return shlex.join(words)

    def given(self) -> bool:
        """Whether any selection option was typed (an empty value counts: it is refused)."""
        return any(v is not None and v != [] for v in vars(self).values())


def _operations() -> Onboardings:
    from workflow.management.onboardings import Onboardings

    # Operator actions never open a secret, but each writes an audit row, anchored with the
    # key: they need it when they write (and must not create a key file).
    return Onboardings(open_store(), KeyWhenNeeded())


def run_action(
    action: str,
    onboarding: str | None,
    filters: Filters,
    *,
    reason: str,
    actor: str,
    dry_run: bool,
    yes: bool,
    **options: Any,
) -> None:
    """Act on one onboarding (``onboarding``) or on a selection (``filters``)."""
    command = f"onboarding {action}"
    if onboarding is not None and filters.given():
        raise fail(
            f"give one onboarding or selection options, not both (see '{command} --help')", 2
        )
    if onboarding is None and not filters.given():
        raise fail(
            "name an onboarding (id or key) or select with --where KEY=VALUE, --code CODE, "
            f"--older-than AGE, --key-prefix P or --worker W (see '{command} --help')",
            2,
        )
    if onboarding is not None:
        if dry_run:
            raise fail(f"--dry-run previews a selection; 'onboarding show {onboarding}'", 2)
        row = getattr(_operations(), action)(onboarding, actor=actor, reason=reason, **options)
        echo(f"{row.key} ({row.id}): now {row.state}")
        return
    _run_bulk(action, filters, reason=reason, actor=actor, dry_run=dry_run, yes=yes, **options)


def _run_bulk(
    action: str,
    filters: Filters,
    *,
    reason: str,
    actor: str,
    dry_run: bool,
    yes: bool,
    **options: Any,
) -> None:
    from workflow.flows import FLOWS

    now = SystemClock().now()
    selector = _selector(filters, now)
    if action == "rewind" and options.get("target") not in FLOWS.path:
        raise fail(f"--to must be one of: {', '.join(FLOWS.path)}", 2)
    if not dry_run and not yes and not sys.stdin.isatty():
        raise fail(
            f"stdin is not a terminal, so '{action}' cannot ask for confirmation: pass --yes "
            "to act on the selection (or --dry-run to list it)"
        )

    def confirm(report: BulkReport) -> bool:
        _print_preview(report, now)
        if yes:
            return True
        return typer.confirm(
            f"{action} these {report.selected} onboarding(s) (batch {report.batch_id})?",
            default=False,
        )

    report = _operations().bulk(
        action, selector, actor=actor, reason=reason, dry_run=dry_run, confirm=confirm,
        preview=PREVIEW_ROWS, selection=filters.typed(), **options,
    )  # fmt: skip
    if report.selected == 0:
        echo(f"no onboarding matches {selector.describe()} that '{action}' applies to")
        return
    if dry_run:
        _print_preview(report, now)
        typer.echo("dry run: nothing was changed")
        return
    if not report.confirmed:
        raise fail("not confirmed: nothing was changed")
    typer.echo(
        f"batch {report.batch_id}: {_DONE[action]} {len(report.applied)} of {report.selected}"
    )
    if report.skipped:
        typer.echo(f"skipped {len(report.skipped)} that changed since the selection:")
        for skipped in report.skipped:
            echo(f"  {skipped.key} ({skipped.id}): {skipped.reason}")
        raise typer.Exit(SKIPPED_EXIT)


def _selector(filters: Filters, now: datetime) -> Selector:
    """The selection the filters describe, over the states of every registered flow version;
    a filter that cannot be read is a usage error naming it."""
    from workflow.core.errors import SelectionError
    from workflow.flows import FLOWS
    from workflow.management.selection import build_selector

    try:
        return build_selector(
            states=FLOWS.states, paused_states=FLOWS.active_states, now=now,
            where=filters.where or (), codes=filters.codes or (), older_than=filters.older_than,
            key_prefix=filters.key_prefix, worker=filters.worker, stored=_stored_code,
        )  # fmt: skip
    except SelectionError as exc:
        raise fail(str(exc), 2) from None


def _stored_code(code: str) -> bool:
    from workflow.cli.read_options import stored_code

    return stored_code(code)


def age(since: datetime, now: datetime) -> str:
    """How long ago ``since`` was, briefly: ``45s``, ``12m``, ``3h``, ``2d``."""
    seconds = max(0.0, (now - since).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _print_preview(report: BulkReport, now: datetime) -> None:
    from workflow.cli.tables import Column, print_table

    typer.echo(f"{report.selected} onboarding(s) selected for {report.action}:")
    columns = [
        Column("key", fixed=True, max_width=32), Column("state", fixed=True, max_width=32),
        Column("code"), Column("age", fixed=True, justify="right"),
    ]  # fmt: skip
    rows = [
        (r.key, _state(r.state, r.paused_from), r.code or "", age(r.updated_at, now))
        for r in report.preview
    ]
    print_table(columns, rows)
    if report.selected > len(report.preview):
        typer.echo(f"... and {report.selected - len(report.preview)} more")


def _state(state: str, paused_from: str | None) -> str:
    return state + (f" (from {paused_from})" if paused_from else "")
