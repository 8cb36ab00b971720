"""Operator and auditor reads of onboardings: list, show and history.

They read through :mod:`persistence.reader` (the DB-API driver, no SQLAlchemy), so a page of
``list`` answers in well under 200 ms, start-up included. ``--json`` prints the public objects
of :mod:`workflow.management.public` as JSON Lines; lists stream. ``stuck``, ``batches`` and
``workers`` are in :mod:`workflow.cli.stuck_commands`, ``export`` in
:mod:`workflow.cli.export_commands`.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from workflow.cli.application import app
from workflow.cli.read_options import Codes, Internals, Json, States, Target, cursor, found
from workflow.cli.wiring import MAX_ROWS, echo, fail, open_reader
from workflow.core.clock import SystemClock
from workflow.management import public

__all__: list[str] = []  # the commands register themselves on the app


PageSize = Annotated[
    int, typer.Option("--limit", min=0, max=MAX_ROWS, help="Onboardings per page (0: all of them).")
]
After = Annotated[
    str | None,
    typer.Option("--after", metavar="CURSOR", callback=cursor, help="Continue after this cursor."),
]
OlderThan = Annotated[
    str | None,
    typer.Option(
        "--older-than", metavar="AGE", help="Only those not updated for AGE: 90s, 15m, 2h, 1d."
    ),
]
KeyPrefix = Annotated[
    str | None,
    typer.Option("--key-prefix", metavar="P", help="Only keys starting with P (case-sensitive)."),
]


@app.command("list")
def list_command(
    state: States = None,
    limit: PageSize = 50,
    after: After = None,
    code: Codes = None,
    older_than: OlderThan = None,
    key_prefix: KeyPrefix = None,
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
        row = found(reader, target, spec=True)
        data = public.onboarding(row, internals=internals)
        data["spec"] = row["spec"]
        data["profiles_at_sent"] = _profiles_at_sent(reader, row)
    if as_json:
        typer.echo(public.dumps(data))
        return
    _print_onboarding(data, row)


def _profiles_at_sent(reader: Any, row: dict[str, Any]) -> list[str]:
    """Every profile the onboarding's create step made or adopted (its own flow's step)."""
    from workflow.core.flow_catalogue import CATALOGUE

    version = int(row.get("flow_version") or 1)
    facts = CATALOGUE.get(version)
    if facts is not None:
        name = facts.profile_step
    else:  # a version registered at run time: ask its definition
        from workflow.flows import FLOW, FLOWS

        step = FLOWS.get(version, FLOW).profile_step
        name = step.name if step is not None else None
    return list(reader.resource_ids(row["id"], name)) if name is not None else []


def _first_states() -> set[str]:
    """The state each flow version starts in (an onboarding there has done nothing yet)."""
    from workflow.core.flow_catalogue import CATALOGUE

    first = {facts.first_state for facts in CATALOGUE.values()}
    if "workflow.flows" in sys.modules:  # versions registered at run time, if any
        from workflow.flows import FLOWS

        first |= {FLOWS[version].machine.path[0] for version in FLOWS}
    return first


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
    if paused and row["state"] not in _first_states():
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
        row = found(reader, target)
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
