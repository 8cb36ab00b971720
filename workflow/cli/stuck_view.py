"""``onboarding stuck`` for people and programs: each stuck onboarding with why, since when and
the command that fixes it; tables grouped by cause and code, or JSON Lines."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import typer

from workflow.cli.tables import duration, relative_time
from workflow.core.printable import printable
from workflow.management import public
from workflow.management.fixes import MEANING, described, fix, summarized

__all__ = ["described", "fix", "print_groups", "print_summary", "summarized"]


def _say(text: str) -> None:
    """Print a line of prose wrapped to the terminal (never cut: commands must stay whole)."""
    width = max(40, shutil.get_terminal_size().columns)
    lines = textwrap.wrap(printable(text), width, subsequent_indent="  ", break_on_hyphens=False)
    typer.echo("\n".join(lines))


def _workers_line(live_workers: int) -> str:
    if live_workers == 0:
        return "no live worker: nothing runnable moves until one runs ('onboarding worker')"
    return f"{live_workers} live worker(s) ('onboarding workers' lists them)"


def print_summary(groups: list[dict[str, Any]], live_workers: int) -> None:
    """The counts per cause and code, as plain aligned columns (no markup is read, so none can
    hide in a code; rich is not even loaded; Sent's codes print with their controls escaped)."""
    if not groups:
        typer.echo("nothing is stuck")
    else:
        rows = [("cause", "code", "count", "oldest")] + [
            (g["cause"], printable(g["code"]), str(g["count"]), duration(g["oldest_age_seconds"]))
            for g in groups
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for cause, code, count, oldest in rows:
            typer.echo(f"{cause:<{widths[0]}}  {code:<{widths[1]}}  {count:>{widths[2]}}  {oldest}")
    _say(_workers_line(live_workers))


def print_groups(
    groups: list[dict[str, Any]],
    rows: Iterable[dict[str, Any]],
    now: datetime,
    live_workers: int,
    *,
    internals: bool,
) -> None:
    """One table per (cause, code): a heading with the count, the oldest and the fix."""
    from workflow.cli.tables import Column, print_table

    by_group: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for row in rows:
        by_group.setdefault((row["cause"], row["code"]), []).append(row)
    if not groups:
        typer.echo("nothing is stuck")
    for group in groups:
        members = by_group.get((group["cause"], group["code"]), [])
        code = f" {group['code']}" if group["code"] else ""
        typer.echo("")
        _say(
            f"{group['cause']}{code}: {group['count']} onboarding(s), oldest "
            f"{duration(group['oldest_age_seconds'])} ({MEANING[group['cause']]})"
        )
        _say(f"fix: {group['fix']}")
        columns = [
            Column("key", fixed=True, max_width=24), Column("state", fixed=True, max_width=16),
            Column("for", fixed=True), Column("next", fixed=True), Column("why"),
        ]  # fmt: skip
        table = []
        for row in members:
            state = row["state"] + (f" (from {row['paused_from']})" if row["paused_from"] else "")
            why = row["reason"]
            if internals and row.get("lease_owner"):
                why += f" [lease owner {row['lease_owner']}]"
            next_try = relative_time(row["next_attempt_at"], now)
            table.append((row["key"], state, duration(row["age_seconds"]), next_try, why))
        print_table(columns, table)
        if group["count"] > len(members):
            more = group["count"] - len(members)
            _say(f"… and {more} more ('onboarding stuck --json' lists every one)")
    typer.echo("")
    _say(_workers_line(live_workers))


def json_rows(rows: Iterable[dict[str, Any]], *, internals: bool) -> Iterable[str]:
    """JSON Lines of stuck rows."""
    for row in rows:
        yield public.dumps(public.stuck(row, internals=internals))
