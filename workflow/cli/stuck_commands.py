"""What needs a person and who is working: stuck, batches and workers.

``stuck --summary`` is one grouped query through :mod:`persistence.reader` (no SQLAlchemy), so
it answers in well under a second at a million onboardings, start-up included.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from workflow.cli.application import app
from workflow.cli.read_options import Codes, Internals, Json, States
from workflow.cli.wiring import MAX_MINUTES, MAX_ROWS, echo, finite, open_reader
from workflow.core.clock import SystemClock
from workflow.management import public

__all__: list[str] = []  # the commands register themselves on the app


def _minutes(text: str) -> Any:
    return typer.Option(min=0, max=MAX_MINUTES, callback=finite, help=text)


OverdueAfter = Annotated[
    float, _minutes("Minutes a runnable onboarding may be due before it counts.")
]
WaitingAfter = Annotated[float, _minutes("Minutes a completion result may take before it counts.")]
Summary = Annotated[bool, typer.Option("--summary", help="Counts per cause and code.")]
PerGroup = Annotated[
    int | None,
    typer.Option(
        min=1, max=MAX_ROWS, help="Onboardings shown per cause and code (tables: 10; --json: all)."
    ),
]


@app.command()
def stuck(
    state: States = None,
    overdue_after: OverdueAfter = 5.0,
    waiting_after: WaitingAfter = 30.0,
    summary: Summary = False,
    limit: PerGroup = None,
    code: Codes = None,
    as_json: Json = False,
    internals: Internals = False,
) -> None:
    """What needs a person, grouped by cause: paused (by error code), lease expired, overdue,
    retrying, waiting long for completion; each group with its count, oldest and fix.

    With --code, only the onboardings paused (or retrying) with those codes.
    """
    from persistence.reader import StuckQuery, worker_status
    from workflow.cli import stuck_view

    now = SystemClock().now()
    query = StuckQuery(
        now=now,
        overdue_before=now - timedelta(minutes=overdue_after),
        waiting_before=now - timedelta(minutes=waiting_after),
        states=state or (),
        codes=code or (),
    )
    with open_reader() as reader:
        live = sum(worker_status(w, now) == "live" for w in reader.workers(seen_since=now))
        groups = [stuck_view.summarized(g, now, live) for g in reader.stuck_summary(query)]
        if summary:
            if as_json:
                public.write_lines(public.dumps(public.stuck_group(g)) for g in groups)
            else:
                stuck_view.print_summary(groups, live)
            return
        per_group = limit if limit is not None or as_json else 10
        rows = (
            stuck_view.described(r, now, live) for r in reader.stuck(query, per_group=per_group)
        )
        if as_json:
            public.write_lines(stuck_view.json_rows(rows, internals=internals))
            return
        stuck_view.print_groups(groups, rows, now, live, internals=internals)


@app.command()
def batches(
    as_json: Json = False,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=MAX_ROWS, help="How many, newest first.")
    ] = 20,
) -> None:
    """Bulk actions (resume, retry, rewind, cancel over a selection), newest first: who, why,
    the selection as typed, how many matched, changed and were skipped, and when.

    'onboarding export --batch ID' exports the audit rows of one.
    """
    from workflow.cli.tables import short_time

    with open_reader() as reader:
        rows = reader.batches(limit=limit)
    if as_json:
        public.write_lines(public.dumps(public.batch(r)) for r in rows)
        return
    if not rows:
        typer.echo("no bulk action has run against this database")
        return
    import textwrap

    for r in rows:
        finished = "not finished" if r["finished_at"] is None else "done"
        echo(f"{r['id']}  {short_time(r['started_at'])}  {r['action']}")
        for line in (
            f"by {r['actor']}: {r['changed']} of {r['matched']} changed, {r['skipped']} "
            f"skipped ({finished})",
            f"selection: {r['selection']}",
            f"reason: {r['reason']}",
        ):
            for part in textwrap.wrap(line, 78, break_on_hyphens=False, break_long_words=True):
                echo(f"  {part}")


@app.command()
def workers(
    as_json: Json = False,
    every: Annotated[
        bool, typer.Option("--all", help="Also workers stopped more than a day ago.")
    ] = False,
) -> None:
    """Worker processes: live, dead (missed three heartbeats) or stopped, latest first."""
    from persistence.reader import worker_status

    now = SystemClock().now()
    with open_reader() as reader:
        rows = reader.workers(seen_since=None if every else now - timedelta(days=1))
    for row in rows:
        row["status"] = worker_status(row, now)
        row["seen_seconds_ago"] = max(0, int((now - row["last_seen"]).total_seconds()))
    if as_json:
        public.write_lines(public.dumps(public.worker(r)) for r in rows)
        return
    if not rows:
        typer.echo("no worker has run against this database ('onboarding worker' starts one)")
        return
    from workflow.cli.tables import Column, duration, print_table, short_time

    columns = [
        Column("worker"), Column("status", fixed=True), Column("seen", fixed=True),
        Column("busy", fixed=True, justify="right"), Column("version", fixed=True),
        Column("started", fixed=True),
    ]  # fmt: skip
    table = [
        (
            r["id"], r["status"], f"{duration(r['seen_seconds_ago'])} ago",
            f"{r['in_flight']}/{r['concurrency']}", r["version"], short_time(r["started_at"]),
        )
        for r in rows
    ]  # fmt: skip
    print_table(columns, table)
    live = sum(r["status"] == "live" for r in rows)
    typer.echo(f"{live} live; dead: not seen for 3 heartbeats, and never stopped cleanly")
