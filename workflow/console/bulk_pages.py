"""Bulk actions from the list's filter: a dry run with the exact count and the first keys, a
confirmation (the count typed above a threshold), the run in the background with its progress
(the batch's audit rows, counted), and what was skipped because it changed meanwhile.

The selection is the list's own (:meth:`ListFilter.selector`), and the action is
:meth:`Onboardings.bulk <workflow.management.onboardings.Onboardings.bulk>`, as ``onboarding resume
--code …`` runs it: one commit and audit row per onboarding, all with the batch id.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from workflow.console.context import Console, Form, User, action, page
from workflow.console.listing import ListFilter, parse_filter
from workflow.core.errors import OnboardingError

__all__ = ["BatchRun", "batch", "batches", "dry_run", "run"]

BULK_ACTIONS: Final = ("resume", "retry", "rewind", "cancel")
PREVIEW: Final = 20
#: Finished batches whose outcome (skipped ones included) the console keeps in memory.
KEPT: Final = 100


@dataclass
class BatchRun:
    """A bulk action this console started, as it runs."""

    id: str
    action: str
    user: str
    selection: str
    started_at: datetime
    selected: int | None = None
    applied: int | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    done: bool = False


def _options(source: Any) -> tuple[str, str | None, bool]:
    name = source.get("action") or ""
    if name not in BULK_ACTIONS:
        raise ValueError(f"action {name[:40]!r}: use one of {', '.join(BULK_ACTIONS)}")
    target = source.get("target") or None
    if name == "rewind" and target is None:
        raise ValueError("target: a rewind needs the state to go back to")
    return name, target, source.get("delete_at_sent") == "1"


@page
def dry_run(request: Request, console: Console, user: User) -> Response:
    """The exact count and the first keys the action would change, and the form to run it."""
    from workflow.flows import FLOWS

    params = {k: request.query_params.getlist(k) for k in request.query_params}
    wanted = parse_filter(params)
    try:
        name, target, delete = _options(request.query_params)
        report = console.ops.bulk(
            name, wanted.selector(console.clock.now()), actor=user.name, reason="dry run",
            dry_run=True, target=target, delete_at_sent=delete, preview=PREVIEW,
        )  # fmt: skip
    except (OnboardingError, ValueError) as exc:
        return console.render(
            request, "bulk.html", user, status=400, error=str(exc), wanted=wanted, report=None,
            path=FLOWS.path, actions=BULK_ACTIONS,
        )  # fmt: skip
    return console.render(
        request, "bulk.html", user, error=None, wanted=wanted, report=report, action=name,
        target=target, delete=delete, path=FLOWS.path, actions=BULK_ACTIONS,
        typed=report.selected > console.settings.bulk_confirm_above,
    )  # fmt: skip


@action()
def run(request: Request, console: Console, user: User, form: Form) -> Response:
    """Start the bulk action in the background; its page shows the progress."""
    wanted = parse_filter(form)
    try:
        name, target, delete = _options({k: form.one(k) for k in form})
        reason = form.one("reason").strip()
        if not reason:
            raise ValueError("reason: say why (the reason is kept in every audit row)")
        selector = wanted.selector(console.clock.now())
    except (OnboardingError, ValueError) as exc:
        return console.render(request, "message.html", user, status=400, message=str(exc))
    typed = form.one("confirm_count").strip()
    typed_filter = wanted.query() + (f" target={target}" if target else "")
    batch_id = uuid.uuid4().hex
    state = BatchRun(batch_id, name, user.name, selector.describe(), console.clock.now())
    console.batches[batch_id] = state
    finished = [key for key, run in console.batches.items() if run.done]
    for key in finished[: max(0, len(finished) - KEPT)]:  # oldest first: dicts keep order
        del console.batches[key]
    limit = console.settings.bulk_confirm_above

    def confirm(report: Any) -> bool:
        state.selected = report.selected
        if report.selected > limit and typed != str(report.selected):
            state.error = (
                f"not run: the selection matches {report.selected}, above {limit}; type that "
                f"count to confirm (typed {typed[:20]!r}). Run the dry run again."
            )
            return False
        return True

    def work() -> None:
        try:
            report = console.ops.bulk(
                name, selector, actor=user.name, reason=reason, batch_id=batch_id,
                target=target, delete_at_sent=delete, confirm=confirm, preview=PREVIEW,
                selection=f"console: {typed_filter}",
            )  # fmt: skip
            state.selected = report.selected
            state.applied = len(report.applied)
            state.skipped = [(s.key, s.reason) for s in report.skipped]
        except Exception as exc:  # shown on the batch's page; the batch's rows say what ran
            state.error = str(exc)
        finally:
            state.done = True

    threading.Thread(target=work, name=f"console-batch-{batch_id}", daemon=True).start()
    return RedirectResponse(f"/batches/{batch_id}", status_code=303)


@page
def batch(request: Request, console: Console, user: User) -> Response:
    """One batch: its progress while it runs (the page refreshes itself), then the outcome."""
    batch_id = request.path_params["id"][:64]
    state = console.batches.get(batch_id)
    with console.reader() as reads:
        written = reads.batch_count(batch_id)
    wanted = ListFilter(batch=batch_id)
    return console.render(
        request,
        "batch.html",
        user,
        batch_id=batch_id,
        state=state,
        written=written,
        wanted=wanted,
    )


@page
def batches(request: Request, console: Console, user: User) -> Response:
    """Every bulk action (``onboarding batches``), newest first, and those running here."""
    with console.reader() as reads:
        found = reads.batches(limit=50)
    running = [b for b in console.batches.values() if not b.done]
    return console.render(request, "batches.html", user, batches=found, running=running)
