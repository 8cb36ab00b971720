"""Auditor commands: ``audit verify`` checks every audit log against its hash chain, its anchor
and its checkpoint, and the database's guards; ``audit anchor`` anchors the heads written before
anchoring existed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from workflow.cli.application import app
from workflow.cli.wiring import echo, fail, open_store, open_vault

if TYPE_CHECKING:
    from workflow.management.audit_verify import AuditProblem, AuditReport

audit_app = typer.Typer(
    help="The audit log: verify its hash chains and anchors.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")

SCHEMA_VERSION = 1

KeyOption = Annotated[
    str | None, typer.Option("--key", help="Only the onboarding with this key (or id).")
]


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
        "row": dict(problem.row) if problem.row is not None else None,
        "original": dict(problem.original) if problem.original is not None else None,
        "original_source": problem.source,
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
        "unanchored": report.unanchored,
        "database_problems": report.database_problems,
        "anchors_checked": report.anchors_checked,
        "seconds": round(report.seconds, 3),
        "transitions_per_second": round(report.rate, 1),
        "checked_at": checked_at.isoformat(),
    }


def _fields(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in values.items())


def problem_lines(problem: AuditProblem) -> list[str]:
    """The problem's line, then what its row says now and, when recovered, what it said."""
    lines = [str(problem)]
    if problem.row is not None and problem.original is not None:
        now = {name: problem.row[name] for name in problem.original}
        lines.append(f"    now says:   {_fields(now)}")
        lines.append(f"    originally: {_fields(problem.original)} (from the {problem.source})")
    elif problem.original is not None:
        lines.append(f"    originally: {_fields(problem.original)} (from the {problem.source})")
    elif problem.row is not None:
        lines.append(f"    now says:   {_fields(problem.row)}")
        lines.append("    the original cannot be recovered: nothing kept elsewhere proves it")
    return lines


@audit_app.command("verify")
def verify(
    key: KeyOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON lines: each problem, then the summary.")
    ] = False,
    against: Annotated[
        Path | None,
        typer.Option(
            "--against", exists=True, dir_okay=False, readable=True,
            help="An export (JSON Lines from 'onboarding export') kept elsewhere: where a row "
            "was altered, its row there is tried as the original.",
        ),
    ] = None,
) -> None:  # fmt: skip
    """Check every audit log: hash chain, anchor, checkpoint head, replayed state.

    Checks seq 1..n without gaps, each row's digest against its content and
    the row before, the checkpoint's anchor (an HMAC under the secret key)
    against the log's heads, the checkpoint's audit_seq/audit_head against
    the last row, each row against the flow's transitions, and that
    replaying the log gives the checkpoint's state; then the append-only
    triggers and rows whose onboarding does not exist. An altered row is
    shown as it reads now and, where its outbox event (or the --against
    export) proves the original, as it was. Prints each problem, then one
    summary line; exits 1 when anything fails, else 0. Needs the secret key.
    """
    from workflow.core.errors import OnboardingNotFoundError
    from workflow.management.audit_explain import ExportOriginals
    from workflow.management.audit_verify import verify_audit

    if key is not None and not key.strip():
        raise typer.BadParameter("is empty: give an onboarding key or id", param_hint="'--key'")
    checked_at = datetime.now(UTC)

    def show(problem: AuditProblem) -> None:
        if as_json:
            echo(json.dumps(problem_json(problem)))
        else:
            for line in problem_lines(problem):
                echo(line)

    store = open_store()
    try:
        vault = open_vault(create=False)
        report = verify_audit(
            store, key, anchoring=vault, on_problem=show,
            originals=ExportOriginals(against) if against is not None else None,
        )  # fmt: skip
    except OnboardingNotFoundError as exc:
        raise fail(str(exc)) from exc
    finally:
        store.engine.dispose()
    echo(json.dumps(summary_json(report, checked_at)) if as_json else report.summary())
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("anchor")
def anchor(key: KeyOption = None) -> None:
    """Anchor audit logs written before anchoring (once, after upgrading).

    Each log whose head has no anchor is checked first (chain, checkpoint,
    transitions, replay); an intact one gets the anchor its rows lead to,
    one that fails is listed and left. After the upgrade every writer
    anchors what it writes, so a head without an anchor is a finding:
    anchoring it accepts the log as it stands. Needs the secret key; exits
    1 when a log was left unanchored.
    """
    from workflow.core.errors import OnboardingNotFoundError
    from workflow.management.audit_anchoring import anchor_audit

    store = open_store()
    try:
        report = anchor_audit(store, open_vault(create=False), key)
    except OnboardingNotFoundError as exc:
        raise fail(str(exc)) from exc
    finally:
        store.engine.dispose()
    for problem in report.refused:
        for line in problem_lines(problem):
            echo(line)
    echo(anchor_summary(report.anchored, report.changed, report.refused_logs))
    if report.refused_logs or report.changed:
        raise typer.Exit(1)


def anchor_summary(anchored: int, changed: int, refused: int) -> str:
    """One line: how many logs were anchored, and which were left and why."""
    line = f"audit anchor: anchored {anchored} audit log(s)"
    if refused:
        line += (
            f"; left {refused} unanchored: their logs fail the checks above (look into them "
            "with 'onboarding audit verify')"
        )
    if changed:
        line += f"; {changed} changed meanwhile: run 'onboarding audit anchor' again"
    return line
