"""The demo: SQLite + the sandbox in-process, every onboarding path, a table at the end."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from persistence.db import make_engine
from persistence.migrate import upgrade
from persistence.store import SqlStore
from workflow.clock import SystemClock
from workflow.executor import EngineConfig, StepReport
from workflow.management import Onboardings
from workflow.retry import RetryPolicy
from workflow.runner import Worker
from workflow.sandbox import FaultConfig, OrganizationConfig, Sandbox, ScriptedFault, ServerThread
from workflow.secrets import FernetVault
from workflow.sent_client import HttpxSentApi
from workflow.spec import OrganizationFacts, load_documents, parse_spec
from workflow.webhook import create_callback_app

__all__ = ["SAMPLES", "run_demo"]

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "demo.yaml"


def run_demo(db: Path, concurrency: int = 8) -> None:
    """Run the sample onboardings and print each one's outcome."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)  # logs and CI: keep the final table on one line per row
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    engine_db = make_engine(url)
    upgrade(engine_db)
    store = SqlStore(engine_db)
    vault = FernetVault.generate()  # throwaway key: the demo's secrets die with it
    clock = SystemClock()
    sample = SAMPLES
    today = clock.now().date()
    specs = [parse_spec(doc, today=today, source=str(sample)) for doc in load_documents(sample)]
    # The "retried" sample's first two creates fail with 503 and a third lands.
    faults = FaultConfig(
        scripted=[ScriptedFault(method="POST", body_contains="Alerts", status=503, times=2)]
    )
    sandbox = Sandbox(OrganizationConfig(completion_delay_seconds=0.3), faults)
    console.print(
        f"[bold]Sent onboarding demo[/]: {len(specs)} profiles, SQLite at {db}, in-process sandbox"
    )
    with (
        ServerThread(sandbox.app) as sent,
        ServerThread(create_callback_app(store, vault)) as receiver,
    ):
        api = HttpxSentApi(sent.url, "sandbox-key", timeout=10)
        config = EngineConfig(
            callback_base_url=receiver.url, poll_interval=1.0, completion_timeout=30,
            retry=RetryPolicy(initial=0.2, cap=2.0, max_attempts=6),
            organization=OrganizationFacts(whatsapp_has_phone_number=True),
        )  # fmt: skip
        rows = [
            row for row, _ in Onboardings(store, vault, clock=clock).start_many(specs, actor="demo")
        ]
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:  # fmt: skip
            task = progress.add_task("onboarding", total=len(rows))
            keys = {row.id: row.key for row in rows}

            def report(step: StepReport) -> None:
                if step.kind in ("advance", "pause", "retry"):
                    progress.console.print(
                        f"  {keys[step.onboarding_id]:<26} {step.kind:<8} -> {step.state}"
                    )
                settled = len(
                    store.list_onboardings(
                        states=["submitted", "completed", "needs_attention", "cancelled"]
                    )
                )
                progress.update(task, completed=settled)

            started = time.monotonic()
            Worker(
                store, api, vault, config=config, clock=clock, concurrency=concurrency,
                poll_interval=0.05, on_report=report,
            ).run(until_idle=True, max_seconds=60)  # fmt: skip
            progress.update(task, completed=len(rows))
        api.close()
    sandbox.close()
    _table(console, store, [r.id for r in rows])
    snapshot = sandbox.snapshot()
    console.print(
        f"Done in {time.monotonic() - started:.1f}s. Sent executed {snapshot['mutations']}; "
        f"callbacks {snapshot['callbacks']}."
    )
    console.print(f"Audit trail: onboarding --db sqlite:///{db} history demo-retried --attempts")


def _table(console: Console, store: SqlStore, ids: list[str]) -> None:
    table = Table(
        "onboarding", "final state", "predicted", "actual", "attempts", "duration", "note"
    )
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
        table.add_row(
            row.key, state, row.predicted_outcome or "-", row.actual_outcome or "-",
            str(len(attempts)), f"{duration.total_seconds():.1f}s", note[:70],
        )  # fmt: skip
    console.print(table)
