"""Auditor commands: ``audit verify`` checks every audit log against its hash chain and its
checkpoint."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from workflow.cli import app
from workflow.cli.wiring import echo, fail, open_store

if TYPE_CHECKING:
    from workflow.audit_verify import AuditProblem, AuditReport

audit_app = typer.Typer(help="The audit log: verify its hash chains.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

SCHEMA_VERSION = 1


def problem_json(problem: AuditProblem) -> dict[str, Any]:
    """The public JSON of one problem (``docs/schema/audit_problem.json``)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "audit_problem",
        "onboarding_id": problem.onboarding_id,
        "key": problem.key,
        "seq": problem.seq,
        "check": problem.check,
        "message": problem.message,
    }


def summary_json(report: AuditReport, checked_at: datetime) -> dict[str, Any]:
    """The public JSON of a verification's outcome (``docs/schema/audit_summary.json``)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "audit_summary",
        "ok": report.ok,
        "onboardings": report.onboardings,
        "transitions": report.transitions,
        "failed_onboardings": report.failed,
        "problems": report.problem_count,
        "seconds": round(report.seconds, 3),
        "transitions_per_second": round(report.rate, 1),
        "checked_at": checked_at.isoformat(),
    }


@audit_app.command("verify")
def verify(
    key: Annotated[
        str | None, typer.Option("--key", help="Only the onboarding with this key (or id).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON lines: each problem, then the summary.")
    ] = False,
) -> None:
    """Check every audit log: hash chain, checkpoint head, replayed state.

    Checks seq 1..n without gaps, each row's digest against its content and
    the row before, the checkpoint's audit_seq/audit_head against the last
    row, each row against the flow's transitions, and that replaying the log
    gives the checkpoint's state. Prints each problem (onboarding, seq,
    check), then one summary line; exits 1 when any log fails, else 0.
    """
    from workflow.audit_verify import verify_audit
    from workflow.errors import OnboardingNotFoundError

    if key is not None and not key.strip():
        raise typer.BadParameter("is empty: give an onboarding key or id", param_hint="'--key'")
    checked_at = datetime.now(UTC)

    def show(problem: AuditProblem) -> None:
        echo(json.dumps(problem_json(problem)) if as_json else str(problem))

    store = open_store()
    try:
        report = verify_audit(store, key, on_problem=show)
    except OnboardingNotFoundError as exc:
        raise fail(str(exc)) from exc
    finally:
        store.engine.dispose()
    typer.echo(json.dumps(summary_json(report, checked_at)) if as_json else report.summary())
    if not report.ok:
        raise typer.Exit(1)
