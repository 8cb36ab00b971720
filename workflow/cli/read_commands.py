"""Operator and auditor reads: list, show, history, stuck, export and workers.

They read through :mod:`persistence.reader` (the DB-API driver, no SQLAlchemy), so a page of
``list`` or ``stuck --summary`` answers in well under 200 ms, start-up included. ``--json``
prints the public objects of :mod:`workflow.management.public` as JSON Lines; lists and exports
stream.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer

from workflow.cli import app
from workflow.cli.wiring import (
    MAX_MINUTES,
    MAX_ROWS,
    echo,
    fail,
    finite,
    open_reader,
)
from workflow.core.clock import SystemClock, as_utc
from workflow.core.errors import OnboardingError
from workflow.management import public

__all__: list[str] = []  # the commands register themselves on the app


def _known_states(values: list[str] | None) -> list[str] | None:
    if not values:
        return values  # the flow (and pydantic with it) loads only when there is a state to check
    from workflow.flows import STATES

    for value in values:
        if value not in STATES:
            raise typer.BadParameter(f"unknown state {value!r}; states are {', '.join(STATES)}")
    return values


def _cursor(value: str | None) -> str | None:
    try:
        public.decode_cursor(value)  # refused at parse time, naming --after
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


def _moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO-8601 date or time, e.g. 2026-05-01 or "
            "2026-05-01T12:00:00+00:00 (UTC when no offset is given)"
        ) from None
    try:
        return as_utc(moment)
    except OverflowError:  # 9999-12-31T23:00-05:00 is past the last time there is
        raise typer.BadParameter(
            f"{value!r} is outside the times supported, 0001-01-01 to 9999-12-31 UTC"
        ) from None


States = Annotated[
    list[str] | None,
    typer.Option(
        "--state", callback=_known_states, help="Only these states (repeatable), e.g. pending."
    ),
]
Json = Annotated[bool, typer.Option("--json", help="JSON Lines (see docs/json.md).")]
Internals = Annotated[
    bool,
    typer.Option("--internals", help="Also the engine's internals: lease, version, digests."),
]
Target = Annotated[str, typer.Argument(help="Onboarding id, key or Sent profile id.")]


def _known_codes(values: list[str] | None) -> list[str] | None:
    """``--code`` in any case, as the engine writes it; an unknown code is a usage error."""
    if not values:
        return values
    from workflow.core.errors import SelectionError
    from workflow.management.selection import known_codes

    try:
        return known_codes(values, stored_code)
    except SelectionError as exc:
        raise fail(str(exc), 2) from None


def stored_code(code: str) -> bool:
    """Whether some onboarding has exactly this error code (one Sent does not document)."""
    with open_reader() as reader:
        return bool(reader.has_code(code))


Codes = Annotated[
    list[str] | None,
    typer.Option(
        "--code",
        metavar="CODE",
        callback=_known_codes,
        help="Only those with this pause code, in any case, e.g. PREREQUISITES (repeatable).",
    ),
]


def _found(reader: Any, onboarding: str, *, spec: bool = False) -> dict[str, Any]:
    try:
        row: dict[str, Any] = reader.find(onboarding, spec=spec)
    except OnboardingError as exc:
        raise fail(str(exc)) from exc
    return row


@app.command("list")
def list_command(
    state: States = None,
    limit: Annotated[
        int,
        typer.Option("--limit", min=0, max=MAX_ROWS, help="Onboardings per page (0: all of them)."),
    ] = 50,
    after: Annotated[
        str | None,
        typer.Option(
            "--after", metavar="CURSOR", callback=_cursor, help="Continue after this cursor."
        ),
    ] = None,
    code: Codes = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than", metavar="AGE", help="Only those not updated for AGE: 90s, 15m, 2h, 1d."
        ),
    ] = None,
    key_prefix: Annotated[
        str | None,
        typer.Option(
            "--key-prefix", metavar="P", help="Only keys starting with P (case-sensitive)."
        ),
    ] = None,
    as_json: Json = False,
    internals: Internals = False,
) -> None:
    """List onboardings, oldest first, a page at a time (the next page's command follows it)."""
    from persistence.reader import ListFilter
    from workflow.core.errors import SelectionError
    from workflow.management.selection import parse_duration

    position = public.decode_cursor(after)
    try:
        age = parse_duration(older_than) if older_than is not None else None
    except SelectionError as exc:
        raise fail(str(exc), 2) from None
    if key_prefix is not None and not key_prefix:
        raise fail("--key-prefix is empty: give the text to match, or leave it out", 2)
    wanted = ListFilter(
        codes=code or (),
        updated_before=SystemClock().now() - age if age is not None else None,
        key_prefix=key_prefix,
    )
    with open_reader() as reader:
        if as_json:
            rows = reader.page(
                states=state or (), after=position, limit=limit or None, wanted=wanted
            )
            public.write_lines(
                public.dumps(
                    {**public.onboarding(r, internals=internals), "cursor": public.encode_cursor(r)}
                )
                for r in rows
            )
            return
        found = list(
            reader.page(
                states=state or (),
                after=position,
                limit=limit + 1 if limit else None,
                wanted=wanted,
            )
        )
    shown = found[:limit] if limit else found
    _print_onboardings(shown)
    if limit and len(found) > limit:
        options: list[tuple[str, str | None]] = [("--state", s) for s in state or ()]
        options += [("--code", c) for c in code or ()]
        options += [("--older-than", older_than), ("--key-prefix", key_prefix)]
        if limit != 50:
            options.append(("--limit", str(limit)))
        echo(f"more: {_next_page(options, public.encode_cursor(shown[-1]))}")


def _next_page(options: list[tuple[str, str | None]], cursor: str) -> str:
    """The command showing the next page: the same filters and page size, after the last row.

    The database is not repeated: its URL would fill the line (and may hold a password); the
    command runs against the same one with the same ``--db`` or ``ONBOARDING_DATABASE_URL``.
    """
    import shlex

    words = ["onboarding", "list"]
    for name, value in options:
        if value is not None:
            words += [name, value]
    words += ["--after", cursor]
    return shlex.join(words)


def _print_onboardings(rows: list[dict[str, Any]]) -> None:
    from workflow.cli.tables import Column, print_table, relative_time

    columns = [
        Column("key", fixed=True, max_width=24), Column("state", fixed=True, max_width=16),
        Column("tries", fixed=True, justify="right"), Column("next", fixed=True),
        Column("last error"),
    ]  # fmt: skip
    now = SystemClock().now()
    table = []
    for r in rows:
        state = r["state"] + (f" (from {r['paused_from']})" if r["paused_from"] else "")
        error = r["last_error"] or {}
        message = str(error.get("reason") or error.get("message") or "")
        table.append(
            (r["key"], state, r["attempts"], relative_time(r["next_attempt_at"], now), message)
        )
    print_table(columns, table)


@app.command()
def show(target: Target, as_json: Json = False, internals: Internals = False) -> None:
    """One onboarding's checkpoint: state, profile, progress, prediction, last error."""
    with open_reader() as reader:
        row = _found(reader, target, spec=True)
        data = public.onboarding(row, internals=internals)
        data["spec"] = row["spec"]
        data["profiles_at_sent"] = reader.resource_ids(row["id"], "create_profile")
    if as_json:
        typer.echo(public.dumps(data))
        return
    _print_onboarding(data, row)


def _print_onboarding(data: dict[str, Any], row: dict[str, Any]) -> None:
    """``show`` for reading at 80 columns: the fields set, one a line; the last error, the fix
    (when paused) and the spec as indented YAML, secrets redacted; long text wrapped."""
    import textwrap

    nested = ("last_error", "spec", "profiles_at_sent")
    echo(f"{data['key']} ({data['id']})")
    for key, value in data.items():
        if key in ("schema_version", "kind", "key", "id", *nested) or value in (None, ""):
            continue
        for number, line in enumerate(textwrap.wrap(f"{key}: {value}", 78)):
            echo(("  " if number == 0 else "      ") + line)
    profiles = data.get("profiles_at_sent") or []
    if profiles:
        echo("  profiles_at_sent: " + ", ".join(str(p) for p in profiles))
    paused = row["finished_at"] is None and row["next_attempt_at"] is None
    if data.get("last_error"):
        echo("last_error:")
        for line in _yaml(data["last_error"]):
            echo(line)
    if paused and row["state"] != "pending":
        from workflow.management.fixes import fix_line

        code = (row["last_error"] or {}).get("code")
        lines = textwrap.wrap(f"fix: {fix_line(code, row['key'])}", 78, break_on_hyphens=False)
        for line in lines[:1] + [f"  {line}" for line in lines[1:]]:
            echo(line)
    echo("spec:")
    for line in _yaml(_redacted(data.get("spec") or {})):
        echo(line)


def _yaml(value: Any) -> list[str]:
    """``value`` as block YAML indented two spaces, long strings folded near 78 columns."""
    import yaml

    text = yaml.safe_dump(
        value, sort_keys=False, allow_unicode=True, width=60, default_flow_style=False
    )
    return [f"  {line}" for line in text.rstrip("\n").splitlines()]


def _redacted(value: Any) -> Any:
    """A spec with every secret value replaced by ``***``: the fields named as secrets, and
    anything shaped like a card number or a WhatsApp token in other text."""
    from workflow.core.redaction import REDACTED, SECRET_FIELDS, redact

    if isinstance(value, dict):
        return {
            k: REDACTED if k in SECRET_FIELDS and v is not None else _redacted(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return redact(value) if isinstance(value, str) else value


@app.command()
def history(
    target: Target,
    as_json: Json = False,
    attempts: Annotated[bool, typer.Option("--attempts", help="Also every API attempt.")] = False,
    internals: Internals = False,
) -> None:
    """The audit log of one onboarding: every transition, who, why, when."""
    with open_reader() as reader:
        row = _found(reader, target)
        entries = reader.history(row["id"])
        tries = reader.attempts(row["id"]) if attempts else []
    if as_json:
        lines = [public.dumps(public.transition(t, internals=internals)) for t in entries]
        public.write_lines([*lines, *(public.dumps(public.attempt(a)) for a in tries)])
        return
    from workflow.cli.tables import Column, print_table, short_time

    columns = [
        Column("#", fixed=True, justify="right"), Column("at (UTC)", fixed=True),
        Column("transition", fixed=True, max_width=20), Column("reason / details"),
    ]  # fmt: skip
    table = []
    for t in entries:
        change = (f"{t['trigger']} → {t['to_state']}", f"by {t['actor']}")
        note = t["reason"] or (json.dumps(t["details"]) if t["details"] else "")
        table.append((t["seq"], short_time(t["at"]), change, note))
    print_table(columns, table, title=f"{row['key']} ({row['id']})")
    if attempts:
        _print_attempts(tries, row["profile_id"])


def _print_attempts(tries: list[dict[str, Any]], profile_id: str | None) -> None:
    from workflow.cli.tables import Column, print_table

    columns = [
        Column("step", fixed=True), Column("try", fixed=True, justify="right"),
        Column("call"), Column("status"), Column("ms", fixed=True, justify="right"),
        Column("outcome", fixed=True),
    ]  # fmt: skip
    table = []
    for a in tries:
        status = " ".join(str(x) for x in (a["http_status"], a["error_code"]) if x)
        path = a["path"].replace(profile_id, "{profile}") if profile_id else a["path"]
        call = f"{a['method']} {path}"
        table.append(
            (a["step"], a["attempt"], call, status, f"{a['latency_ms']:.0f}", a["outcome"])
        )
    print_table(columns, table, title=f"API attempts (profile {profile_id})")


@app.command()
def stuck(
    state: States = None,
    overdue_after: Annotated[
        float,
        typer.Option(
            min=0,
            max=MAX_MINUTES,
            callback=finite,
            help="Minutes a runnable onboarding may be due before it counts.",
        ),
    ] = 5.0,
    waiting_after: Annotated[
        float,
        typer.Option(
            min=0,
            max=MAX_MINUTES,
            callback=finite,
            help="Minutes a completion result may take before it counts.",
        ),
    ] = 30.0,
    summary: Annotated[bool, typer.Option("--summary", help="Counts per cause and code.")] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_ROWS,
            help="Onboardings shown per cause and code (tables: 10; --json: all).",
        ),
    ] = None,
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
def export(
    onboarding: Annotated[
        list[str] | None, typer.Argument(help="Ids or keys (default: every onboarding).")
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option("--key", help="Only this onboarding (id or key; repeatable)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="From this time on (ISO-8601; UTC unless an offset is given)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Before this time (ISO-8601, exclusive).")
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Only transitions by this actor.")] = None,
    state: Annotated[
        list[str] | None,
        typer.Option(
            "--state", callback=_known_states, help="Only transitions into this state (repeatable)."
        ),
    ] = None,
    batch: Annotated[
        str | None,
        typer.Option(
            "--batch", metavar="ID", help="Only the transitions of this bulk action's batch."
        ),
    ] = None,
    attempts: Annotated[
        bool,
        typer.Option("--attempts", help="Export the API attempts instead of the transitions."),
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
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
        ids = [_found(reader, o)["id"] for o in [*(onboarding or ()), *(key or ())]]
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
        return _moment(value)
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
