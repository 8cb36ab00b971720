"""Reading commands for operators and auditors: list, stuck, show, history, export, and the
``db`` commands (the actions that change onboardings are in :mod:`workflow.cli.repair_commands`)."""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from workflow.cli import app
from workflow.cli.wiring import fail, open_store, settings
from workflow.clock import SystemClock
from workflow.errors import OnboardingError

if TYPE_CHECKING:
    from persistence.store import SqlStore
    from workflow.ports import Checkpoint

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _summary(row: Checkpoint) -> dict[str, Any]:
    data = {f.name: getattr(row, f.name) for f in dataclasses.fields(row) if f.name != "spec"}
    return {k: _iso(v) for k, v in data.items()}


def _known_states(values: list[str] | None) -> list[str] | None:
    from workflow.flow import STATES

    for value in values or []:
        if value not in STATES:
            raise typer.BadParameter(f"unknown state {value!r}; states are {', '.join(STATES)}")
    return values


States = Annotated[
    list[str] | None,
    typer.Option(
        "--state",
        callback=_known_states,
        help="Only these states (repeatable), e.g. needs_attention.",
    ),
]


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest revision."""
    from persistence.db import make_engine, safe_url
    from persistence.migrate import upgrade

    revision = upgrade(make_engine(settings().db))
    typer.echo(f"schema at revision {revision} ({safe_url(settings().db)})")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database and the one this code needs."""
    from persistence.db import make_engine, sqlite_path
    from persistence.migrate import current_revision, head_revision

    path = sqlite_path(settings().db)
    if path is not None and not path.exists():
        current = f"missing ({path})"  # reading must not create the file
    else:
        current = current_revision(make_engine(settings().db)) or "empty"
    typer.echo(f"database: {current}; code: {head_revision()}")


@app.command("list")
def list_command(
    state: States = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """List onboardings, oldest first."""
    rows = open_store().list_onboardings(states=state)
    _print_rows(rows, as_json)


@app.command()
def stuck(
    older_than: Annotated[float, typer.Option(help="Minutes without progress.")] = 30.0,
    state: States = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Onboardings that need a person: paused, retrying, or not moved for --older-than minutes."""
    now = SystemClock().now()
    limit = now - timedelta(minutes=older_than)
    from workflow.flow import ACTIVE_STATES, STATES

    waiting = (*sorted(ACTIVE_STATES, key=STATES.index), "needs_attention")
    wanted = [s for s in waiting if not state or s in state]
    store = open_store()
    rows = [
        r
        for r in (store.list_onboardings(states=wanted) if wanted else [])
        if r.state == "needs_attention" or r.attempts > 0 or r.updated_at < limit
    ]
    _print_rows(rows, as_json)
    if not rows and not as_json:
        typer.echo("nothing is stuck")


def _print_rows(rows: list[Checkpoint], as_json: bool) -> None:
    if as_json:
        for row in rows:
            typer.echo(json.dumps(_summary(row)))
        return
    from workflow.cli.tables import Column, print_table, relative_time

    columns = [
        Column("key", fixed=True, max_width=24), Column("state", fixed=True, max_width=16),
        Column("tries", fixed=True, justify="right"), Column("next", fixed=True),
        Column("last error"),
    ]  # fmt: skip
    now = SystemClock().now()
    table = []
    for r in rows:
        state = r.state + (f" (from {r.paused_from})" if r.paused_from else "")
        next_try = relative_time(r.next_attempt_at, now)
        table.append((r.key, state, r.attempts, next_try, _error_text(r)))
    print_table(columns, table)


def _error_text(row: Checkpoint) -> str:
    error = row.last_error or {}
    return str(error.get("reason") or error.get("message") or "")


def _find(store: SqlStore, onboarding: str) -> Checkpoint:
    try:
        return store.find(onboarding)
    except OnboardingError as exc:
        raise fail(str(exc)) from exc


@app.command()
def show(
    onboarding: Annotated[str, typer.Argument(help="Onboarding id or key.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One onboarding's checkpoint: state, profile, progress, prediction, last error."""
    store = open_store()
    row = _find(store, onboarding)
    data = _summary(row)
    data["spec"] = row.spec
    data["profiles_at_sent"] = store.resource_ids(row.id, "create_profile")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        typer.echo(f"{key:>20}: {json.dumps(value) if isinstance(value, dict | list) else value}")


@app.command()
def history(
    onboarding: Annotated[str, typer.Argument(help="Onboarding id or key.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    attempts: Annotated[bool, typer.Option("--attempts", help="Also every API attempt.")] = False,
) -> None:
    """The audit log of one onboarding: every transition, who, why, when."""
    store = open_store()
    row = _find(store, onboarding)
    entries = [_transition(t) for t in store.history(row.id)]
    tries = (
        [{k: _iso(v) for k, v in dataclasses.asdict(a).items()} for a in store.attempts(row.id)]
        if attempts
        else []
    )
    if as_json:
        typer.echo(
            json.dumps(
                {"onboarding": row.id, "key": row.key, "transitions": entries, "attempts": tries},
                indent=2,
            )
        )
        return
    from workflow.cli.tables import Column, print_table, short_time

    columns = [
        Column("#", fixed=True, justify="right"), Column("at (UTC)", fixed=True),
        Column("transition", fixed=True, max_width=20), Column("reason / details"),
    ]  # fmt: skip
    table = []
    for t in store.history(row.id):
        change = f"{t.trigger} → {t.to_state}\nby {t.actor}"
        note = t.reason or (json.dumps(t.details) if t.details else "")
        table.append((t.seq, short_time(t.at), change, note))
    print_table(columns, table, title=f"{row.key} ({row.id})")
    if attempts:
        attempt_columns = [
            Column("step", fixed=True), Column("try", fixed=True, justify="right"),
            Column("call"), Column("status"), Column("ms", fixed=True, justify="right"),
            Column("outcome", fixed=True),
        ]  # fmt: skip
        attempt_rows = []
        for a in tries:
            status = " ".join(str(x) for x in (a["http_status"], a["error_code"]) if x)
            path = a["path"].replace(row.profile_id, "{profile}") if row.profile_id else a["path"]
            call = f"{a['method']} {path}"
            attempt_rows.append(
                (a["step"], a["attempt"], call, status, f"{a['latency_ms']:.0f}", a["outcome"])
            )
        print_table(attempt_columns, attempt_rows, title=f"API attempts (profile {row.profile_id})")


def _transition(row: Any) -> dict[str, Any]:
    return {k: _iso(v) for k, v in dataclasses.asdict(row).items()}


@app.command()
def export(
    onboarding: Annotated[
        list[str] | None, typer.Argument(help="Ids or keys (default: all).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
) -> None:
    """Export the audit log (every transition of every onboarding) to stdout."""
    store = open_store()
    rows = [_find(store, o) for o in onboarding] if onboarding else store.list_onboardings()
    records = [
        {"onboarding_id": r.id, "key": r.key, **_transition(t)}
        for r in rows
        for t in store.history(r.id)
    ]
    if fmt == "jsonl":
        for record in records:
            typer.echo(json.dumps(record))
    elif fmt == "csv":
        fields = [
            "onboarding_id", "key", "profile_id", "seq", "at", "trigger", "from_state",
            "to_state", "actor", "reason", "request_id", "details", "batch_id", "digest",
        ]  # fmt: skip
        writer = csv.DictWriter(sys.stdout, fieldnames=fields)
        writer.writeheader()
        for record in records:
            writer.writerow(
                {**record, "details": json.dumps(record["details"]) if record["details"] else ""}
            )
    else:
        raise fail(f"--format must be jsonl or csv, not {fmt!r}")
