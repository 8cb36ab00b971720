"""The demo: SQLite + the sandbox in-process, every onboarding path, a table at the end."""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from persistence.db import make_engine
from persistence.migrate import upgrade
from persistence.store import SqlStore
from workflow.adapters.sent_client import HttpxSentApi
from workflow.adapters.vault import FernetVault
from workflow.core.backoff import RetryPolicy
from workflow.core.clock import SystemClock
from workflow.core.errors import OnboardingError
from workflow.core.printable import printable
from workflow.core.spec import OrganizationFacts, load_documents, parse_spec
from workflow.engine.callbacks import create_callback_app
from workflow.engine.executor import EngineConfig, StepReport
from workflow.engine.runner import Worker
from workflow.management.onboardings import Onboardings
from workflow.sandbox import FaultConfig, OrganizationConfig, Sandbox, ScriptedFault, ServerThread

__all__ = ["SAMPLES", "demo_path", "run_demo"]

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "demo.yaml"


class DemoDatabaseError(OnboardingError):
    """The demo's database option names a file the demo must not replace."""


def demo_path(value: str) -> Path:
    """The demo's SQLite file from ``--db``: a path or a ``sqlite:///`` URL.

    Raises:
        DemoDatabaseError: another kind of database (the demo runs on a SQLite file of its own).
    """
    scheme, separator, rest = value.partition("://")
    if not separator:
        return Path(value)
    if scheme.lower() != "sqlite" or not rest.startswith("/") or rest in ("/", "/:memory:"):
        raise DemoDatabaseError(
            f"the demo runs on a SQLite file of its own, not {value.split('@')[-1]!r}: "
            "pass a file name, e.g. --db demo.db"
        )
    return Path(rest[1:])


def _refuse_foreign(db: Path) -> None:
    """Refuse to replace a file that is not an earlier demo's database (it may hold real work)."""
    if not db.exists() or db.stat().st_size == 0:
        return
    foreign = (
        f"{db} holds data the demo did not make; it replaces its database, so choose another --db"
    )
    try:
        connection = sqlite3.connect(f"file:{db.resolve()}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
            if "onboardings" not in tables:
                if tables:
                    raise DemoDatabaseError(foreign)
                return
            columns = {row[1] for row in connection.execute("PRAGMA table_info(onboardings)")}
            # The demo starts its samples (keys demo-...) as actor 'demo'; databases of releases
            # before created_by existed are judged by the keys alone.
            started_by = "OR created_by IS NOT 'demo'" if "created_by" in columns else ""
            (others,) = connection.execute(
                f"SELECT count(*) FROM onboardings WHERE key NOT LIKE 'demo-%' {started_by}"
            ).fetchone()
        finally:
            connection.close()
    except sqlite3.Error:
        raise DemoDatabaseError(foreign) from None
    if others:
        raise DemoDatabaseError(foreign)


def run_demo(db: Path, concurrency: int = 8) -> None:
    """Run the sample onboardings and print each one's outcome.

    Raises:
        DemoDatabaseError: ``db`` exists and is not an earlier demo's database.
    """
    _refuse_foreign(db)
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=150)  # logs and CI: keep the final table on one line per row
    store, vault = _fresh_database(db)
    clock = SystemClock()
    today = clock.now().date()
    specs = [parse_spec(doc, today=today, source=str(SAMPLES)) for doc in load_documents(SAMPLES)]
    # The "retried" sample's first two creates fail with 503 and a third lands.
    faults = FaultConfig(
        scripted=[ScriptedFault(method="POST", body_contains="Alerts", status=503, times=2)]
    )
    sandbox = Sandbox(OrganizationConfig(completion_delay_seconds=0.3), faults)
    console.print(
        f"[bold]Sent onboarding demo[/]: {len(specs)} profiles, SQLite at {escape(str(db))}, "
        "in-process sandbox"
    )
    rows = [
        row for row, _ in Onboardings(store, vault, clock=clock).start_many(specs, actor="demo")
    ]
    started = time.monotonic()
    with (
        ServerThread(sandbox.app) as sent,
        ServerThread(create_callback_app(store, vault)) as receiver,
        HttpxSentApi(sent.url, "sandbox-key", timeout=10, deadline=60) as api,  # in-process Sent
    ):
        config = EngineConfig(
            callback_base_url=receiver.url, poll_interval=1.0, completion_timeout=30,
            retry=RetryPolicy(initial=0.2, cap=2.0, max_attempts=6),
            organization=OrganizationFacts(whatsapp_has_phone_number=True),
        )  # fmt: skip
        worker = Worker(
            store, api, vault, config=config, clock=clock, concurrency=concurrency,
            poll_interval=0.05,
        )  # fmt: skip
        _run_with_progress(console, store, worker, rows)
    sandbox.close()
    _table(console, store, [r.id for r in rows])
    snapshot = sandbox.snapshot()
    console.print(
        f"Done in {time.monotonic() - started:.1f}s. Sent executed {snapshot['mutations']}; "
        f"callbacks {snapshot['callbacks']}.",
        markup=False,
    )
    console.print(
        f"Audit trail: onboarding --db sqlite:///{db} history demo-retried --attempts",
        markup=False, highlight=False,
    )  # fmt: skip


def _fresh_database(db: Path) -> tuple[SqlStore, FernetVault]:
    """A new demo database at ``db`` (an earlier one is replaced), migrated, and its key file.

    The key file sits beside the database, as 'start' makes it: the CLI's commands (audit
    verify, operator actions) use the demo's database with the key its log is anchored with.
    """
    for suffix in ("", "-wal", "-shm", ".key"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    engine_db = make_engine(f"sqlite:///{db}")
    upgrade(engine_db)
    vault, _ = FernetVault.from_key_file(Path(f"{db}.key"))
    return SqlStore(engine_db), vault


def _run_with_progress(console: Console, store: SqlStore, worker: Worker, rows: list[Any]) -> None:
    """Run ``worker`` until idle, a line per step and a bar of the onboardings settled."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    ) as progress:  # fmt: skip
        task = progress.add_task("onboarding", total=len(rows))
        keys = {row.id: row.key for row in rows}
        settled_states = ["submitted", "completed", "needs_attention", "cancelled"]

        def report(step: StepReport) -> None:
            if step.kind in ("advance", "pause", "retry"):
                progress.console.print(
                    f"  {keys[step.onboarding_id]:<26} {step.kind:<8} -> {step.state}",
                    markup=False, highlight=False,
                )  # fmt: skip
            settled = len(store.list_onboardings(states=settled_states))
            progress.update(task, completed=settled)

        worker.on_report = report
        worker.run(until_idle=True, max_seconds=60)
        progress.update(task, completed=len(rows))


#: Below this width the table leaves out duration and note, and the notes follow it.
WIDE = 120


def _table(console: Console, store: SqlStore, ids: list[str]) -> None:
    from workflow.cli.tables import Column, print_table

    wide = console.width >= WIDE
    columns = [
        Column("onboarding", fixed=True, max_width=24), Column("final state", max_width=16),
        Column("predicted", fixed=True), Column("actual", fixed=True),
        Column("attempts" if wide else "tries", fixed=True, justify="right"),
    ]  # fmt: skip
    if wide:
        columns += [Column("duration", fixed=True), Column("note")]
    rows, notes = [], []
    for onboarding_id in ids:
        row = store.get(onboarding_id)
        attempts = store.attempts(onboarding_id)
        end = row.finished_at or row.updated_at
        duration = (end - row.created_at) if end else timedelta()
        error = row.last_error or {}
        note = (
            f"{error.get('code', '')}: {error.get('reason', '')}"
            if row.state == "needs_attention"
            else ""
        )
        retries = sum(1 for a in attempts if a.outcome == "retry")
        if retries:
            note = f"{retries} transient failure(s) retried"
        state = row.state + (f" (from {row.paused_from})" if row.paused_from else "")
        cells: list[object] = [
            row.key, state, row.predicted_outcome or "-", row.actual_outcome or "-", len(attempts),
        ]  # fmt: skip
        if wide:
            cells += [f"{duration.total_seconds():.1f}s", note[:70]]
        elif note:
            notes.append(f"{row.key}: {note}")
        rows.append(cells)
    print_table(columns, rows, console=console, edge=True)
    for line in notes:
        console.print(printable(line), markup=False, highlight=False)
