"""``export``: the audit log, or every API attempt, streamed to stdout as JSON Lines or CSV."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from typing import Annotated, Any

import typer

from workflow.cli.application import app
from workflow.cli.read_options import Internals, found, known_states, moment
from workflow.cli.wiring import fail, open_reader
from workflow.management import public

__all__: list[str] = []  # the command registers itself on the app


Onboardings = Annotated[
    list[str] | None, typer.Argument(help="Ids or keys (default: every onboarding).")
]
Keys = Annotated[
    list[str] | None, typer.Option("--key", help="Only this onboarding (id or key; repeatable).")
]
Since = Annotated[
    str | None, typer.Option(help="From this time on (ISO-8601; UTC unless an offset is given).")
]
Until = Annotated[str | None, typer.Option(help="Before this time (ISO-8601, exclusive).")]
Actor = Annotated[str | None, typer.Option(help="Only transitions by this actor.")]
IntoStates = Annotated[
    list[str] | None,
    typer.Option(
        "--state", callback=known_states, help="Only transitions into this state (repeatable)."
    ),
]
Batch = Annotated[
    str | None,
    typer.Option("--batch", metavar="ID", help="Only the transitions of this bulk action's batch."),
]
Attempts = Annotated[
    bool, typer.Option("--attempts", help="Export the API attempts instead of the transitions.")
]
Format = Annotated[str, typer.Option("--format", help="jsonl or csv.")]


@app.command()
def export(
    onboarding: Onboardings = None,
    key: Keys = None,
    since: Since = None,
    until: Until = None,
    actor: Actor = None,
    state: IntoStates = None,
    batch: Batch = None,
    attempts: Attempts = False,
    fmt: Format = "jsonl",
    internals: Internals = False,
) -> None:
    """Export the audit log (or, with --attempts, every API attempt) to stdout, streamed.

    Rows come in the order they were recorded; each transition carries the profile id as it
    was at that moment. Memory stays flat however long the log is.
    """
    from persistence.reader import ExportFilter

    if fmt not in ("jsonl", "csv"):
        raise fail(f"--format must be jsonl or csv, not {fmt!r}", code=2)
    if attempts and (actor is not None or state or batch is not None):
        raise fail(
            "--actor, --state and --batch filter transitions; they do not apply to --attempts", 2
        )
    start, end = _option_time("--since", since), _option_time("--until", until)
    if start is not None and end is not None and end <= start:
        raise fail("--until must be later than --since", code=2)
    with open_reader() as reader:
        ids = [found(reader, o)["id"] for o in [*(onboarding or ()), *(key or ())]]
        if batch is not None and reader.batch(batch) is None:
            raise fail(f"no batch {batch!r}; 'onboarding batches' lists them", 2)
        wanted = ExportFilter(start, end, actor, state or (), ids, batch)
        if attempts:
            rows, fields = reader.attempt_log(wanted), public.ATTEMPT
        else:
            rows = reader.transitions(wanted)
            fields = (*public.TRANSITION, *(("digest",) if internals else ()))

        def shape(row: dict[str, Any]) -> dict[str, Any]:
            if attempts:
                return public.attempt(row)
            return public.transition(row, internals=internals)

        if fmt == "jsonl":
            public.write_lines(public.dumps(shape(r)) for r in rows)
        else:
            _write_csv(fields, (shape(r) for r in rows))


def _option_time(name: str, value: str | None) -> datetime | None:
    try:
        return moment(value)
    except typer.BadParameter as exc:
        raise fail(f"{name}: {exc}", code=2) from None


def _write_csv(fields: tuple[str, ...], records: Any) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")

    def lines() -> Any:
        yield fields
        for record in records:
            yield [_cell(record[name]) for name in fields]

    try:
        writer.writerows(lines())
        sys.stdout.flush()
    except BrokenPipeError:
        public.write_lines(iter(()))  # the same quiet exit as JSON Lines
        raise SystemExit(1) from None


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else value
