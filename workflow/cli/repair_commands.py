"""The actions that change onboardings: resume, retry, rewind and cancel (one onboarding, or a
selection: see :mod:`workflow.cli.bulk`), and amend (one onboarding)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workflow.cli.application import app
from workflow.cli.bulk import (
    EXIT_CODES,
    Code,
    DryRun,
    Filters,
    KeyPrefix,
    OlderThan,
    Where,
    WorkerFilter,
    Yes,
    run_action,
)
from workflow.cli.wiring import (
    ACTOR_MAX_LENGTH,
    KeyWhenNeeded,
    checked_actor,
    echo,
    fail,
    open_store,
)
from workflow.core.clock import SystemClock
from workflow.core.errors import OnboardingError


def _reason(value: str) -> str:
    if not value.strip():
        raise typer.BadParameter("is empty: say why (the reason is kept in the audit log)")
    return value


Reason = Annotated[
    str, typer.Option("--reason", callback=_reason, help="Why (kept in the audit log).")
]
Actor = Annotated[
    str,
    typer.Option(
        "--actor", envvar="USER", callback=checked_actor,
        help=f"Who (kept in the audit log, at most {ACTOR_MAX_LENGTH} characters).",
    ),
]  # fmt: skip
Target = Annotated[str, typer.Argument(help="Onboarding id or key.")]
OneOrSelection = Annotated[
    str | None, typer.Argument(help="Onboarding id or key (or select with the options below).")
]
DeleteAtSent = Annotated[
    bool, typer.Option("--delete-at-sent", help="Also delete the profile at Sent (audited).")
]

Adopt = Annotated[
    str | None,
    typer.Option(
        "--adopt", metavar="ID",
        help="After OWNERSHIP_UNPROVEN: this listed candidate is the onboarding's own.",
    ),
]  # fmt: skip
CreateNew = Annotated[
    bool,
    typer.Option(
        "--create-new",
        help="After OWNERSHIP_UNPROVEN: no listed candidate is the onboarding's; create anew.",
    ),
]


@app.command(epilog=EXIT_CODES)
def resume(
    reason: Reason,
    onboarding: OneOrSelection = None,
    where: Where = None,
    code: Code = None,
    older_than: OlderThan = None,
    key_prefix: KeyPrefix = None,
    worker: WorkerFilter = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    actor: Actor = "operator",
    adopt: Adopt = None,
    create_new: CreateNew = False,
) -> None:
    """Resume paused onboardings in the state each paused from.

    After an OWNERSHIP_UNPROVEN pause (something at Sent may be the onboarding's, and nothing
    proves it), a person decides for one onboarding: --adopt ID (one of the listed candidates,
    held by no other onboarding) or --create-new (none of them is; they are never adopted).
    """
    filters = Filters(where, code, older_than, key_prefix, worker)
    options: dict[str, object] = {}
    if adopt is not None or create_new:
        if onboarding is None:
            raise fail("--adopt and --create-new decide for one onboarding: name it", 2)
        options = {"adopt": adopt, "create_new": create_new}
    run_action(
        "resume", onboarding, filters, reason=reason, actor=actor, dry_run=dry_run, yes=yes,
        **options,
    )  # fmt: skip


@app.command(epilog=EXIT_CODES)
def retry(
    reason: Reason,
    onboarding: OneOrSelection = None,
    where: Where = None,
    code: Code = None,
    older_than: OlderThan = None,
    key_prefix: KeyPrefix = None,
    worker: WorkerFilter = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    actor: Actor = "operator",
) -> None:
    """Run the current step again now (resumes a paused onboarding)."""
    filters = Filters(where, code, older_than, key_prefix, worker)
    run_action("retry", onboarding, filters, reason=reason, actor=actor, dry_run=dry_run, yes=yes)


@app.command(epilog=EXIT_CODES)
def rewind(
    to: Annotated[str, typer.Option("--to", help="An earlier state of the path, e.g. incomplete.")],
    reason: Reason,
    onboarding: OneOrSelection = None,
    where: Where = None,
    code: Code = None,
    older_than: OlderThan = None,
    key_prefix: KeyPrefix = None,
    worker: WorkerFilter = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    actor: Actor = "operator",
    delete_at_sent: DeleteAtSent = False,
) -> None:
    """Go back to an earlier state; the steps after it run again with new idempotency keys.

    Creates that may have happened are looked up at Sent first, never made twice, and adopted
    only when proven the onboarding's own. Refused while a worker runs the onboarding. With
    --to pending a new profile is created; --delete-at-sent deletes the old one first. A
    selection keeps only onboardings that are past --to (or paused past it).
    """
    filters = Filters(where, code, older_than, key_prefix, worker)
    run_action(
        "rewind", onboarding, filters, reason=reason, actor=actor, dry_run=dry_run, yes=yes,
        target=to, delete_at_sent=delete_at_sent,
    )  # fmt: skip


@app.command(epilog=EXIT_CODES)
def cancel(
    reason: Reason,
    onboarding: OneOrSelection = None,
    where: Where = None,
    code: Code = None,
    older_than: OlderThan = None,
    key_prefix: KeyPrefix = None,
    worker: WorkerFilter = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    actor: Actor = "operator",
    delete_at_sent: DeleteAtSent = False,
) -> None:
    """Cancel onboardings for good (their stored secrets are deleted).

    Nothing at Sent is deleted unless --delete-at-sent: then the worker deletes every profile
    proven the onboarding's own (404 counts as done) before it ends as cancelled; one that may
    be its own but is not proven is left alone and listed in the audit log.
    """
    filters = Filters(where, code, older_than, key_prefix, worker)
    run_action(
        "cancel", onboarding, filters, reason=reason, actor=actor, dry_run=dry_run, yes=yes,
        delete_at_sent=delete_at_sent,
    )  # fmt: skip


@app.command()
def amend(
    onboarding: Target,
    spec_file: Annotated[Path, typer.Argument(help="The corrected spec (.json, .yaml).")],
    reason: Reason,
    actor: Actor = "operator",
) -> None:
    """Replace the spec of an onboarding that is paused or not yet started.

    One onboarding only, named by id or key: a spec carries its own key, so amend takes no
    selection (correct many with one spec each).
    The steps still to run send the new values under new Idempotency-Keys; profile fields the
    create already sent go out again as a PATCH; other values that earlier steps already sent
    are listed (rewind to send them again). Refused for a create sent whose reply is unknown
    (resume it first) and while a worker runs the onboarding.
    """
    from workflow.core.spec import parse_documents
    from workflow.management.onboardings import Onboardings

    valid, errors = parse_documents([spec_file], today=SystemClock().now().date())
    for error in errors:
        for problem in error.problems:
            echo(f"  {problem.path}: {problem.message}", err=True)
    if errors or len(valid) != 1:
        raise fail(f"{spec_file} must hold exactly one valid spec; nothing was changed")
    store = open_store()
    # The key anchors the audit row (and seals secrets the amended spec brings).
    onboardings = Onboardings(store, KeyWhenNeeded())
    try:
        row, sent = onboardings.amend(onboarding, valid[0], actor=actor, reason=reason)
    except OnboardingError as exc:
        raise fail(str(exc)) from exc
    echo(f"{row.key} ({row.id}): amended, now {row.state}")
    amended = store.history(row.id)[-1].details or {}
    patched = [f"profile.{field}" for field in amended.get("patched", [])]
    if patched:
        echo(f"sent again to Sent as a profile PATCH before /complete: {', '.join(patched)}")
    if sent:
        from workflow.flows import FLOW, FLOWS
        from workflow.management.decisions import resent_by_rewind_to

        flow = FLOWS.get(row.flow_version, FLOW)
        creating = flow.state_of(flow.profile_step.name) if flow.profile_step else None
        by_state: dict[str, list[str]] = {}
        for path in sent:
            at = resent_by_rewind_to(path, amended.get("queued", []), flow)
            by_state.setdefault(at, []).append(path)
        advice = "; ".join(
            f"'onboarding rewind {row.key} --to {state}' sends {', '.join(paths)}"
            + (" (with a new profile)" if state == creating else "")
            for state, paths in by_state.items()
        )
        echo(f"already sent by earlier steps, not sent again: {advice}")
