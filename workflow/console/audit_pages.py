"""The auditor's page: ``audit verify`` run on demand, the export download (JSON Lines or CSV
of the transitions or of the attempts, under the page's filters; the CLI's public objects) and
the console's own events (sign-ins, refusals)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from workflow.console.context import Console, User, page
from workflow.core.clock import as_utc
from workflow.core.errors import OnboardingError

__all__ = ["audit", "audit_export"]

#: Problems a verification shows on the page (the CLI lists them all).
SHOWN_PROBLEMS: Final = 100


def _time(name: str, value: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not an ISO-8601 date or time") from None
    return as_utc(moment)


def _wanted(request: Request) -> dict[str, str]:
    names = ("key", "since", "until", "actor", "state", "format", "attempts")
    return {n: request.query_params.get(n, "").strip()[:200] for n in names}


@page
def audit(request: Request, console: Console, user: User) -> Response:
    """Verify results (when asked), export links, console events."""
    from workflow.management.audit_verify import verify_audit

    wanted = _wanted(request)
    report, problems, error = None, [], None
    if request.query_params.get("verify"):
        kept: list[Any] = []

        def keep(problem: Any) -> None:
            if len(kept) < SHOWN_PROBLEMS:
                kept.append(problem)

        try:
            report = verify_audit(
                console.store, wanted["key"] or None, anchoring=console.ops.vault, on_problem=keep
            )
        except OnboardingError as exc:
            error = str(exc)
        problems = [str(p) for p in kept]
    events = console.access.events(limit=100)
    return console.render(
        request, "audit.html", user, wanted=wanted, report=report, problems=problems,
        error=error, events=events, status=400 if error else 200,
    )  # fmt: skip


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else value


@page
def audit_export(request: Request, console: Console, user: User) -> Response:
    """The export under the page's filters, streamed as a download."""
    from persistence.reader import ExportFilter
    from workflow.management import public

    wanted = _wanted(request)
    attempts = wanted["attempts"] == "1"
    fmt = "csv" if wanted["format"] == "csv" else "jsonl"
    try:
        since, until = _time("since", wanted["since"]), _time("until", wanted["until"])
        with console.reader() as reads:
            ids = [reads.find(wanted["key"])["id"]] if wanted["key"] else []
    except (ValueError, OnboardingError) as exc:
        return console.render(request, "message.html", user, status=400, message=str(exc))

    def lines() -> Iterator[str]:
        with console.reader() as reads:
            states = [wanted["state"]] if wanted["state"] else []
            chosen = ExportFilter(since, until, wanted["actor"] or None, states, ids)
            if attempts:
                rows = (public.attempt(r) for r in reads.attempt_log(chosen))
                fields: tuple[str, ...] = public.ATTEMPT
            else:
                rows = (public.transition(r) for r in reads.transitions(chosen))
                fields = public.TRANSITION
            if fmt == "jsonl":
                for row in rows:
                    yield public.dumps(row) + "\n"
                return
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(fields)
            for row in rows:
                writer.writerow([_cell(row[name]) for name in fields])
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
            yield buffer.getvalue()

    name = f"{'attempts' if attempts else 'audit'}.{fmt}"
    media = "text/csv" if fmt == "csv" else "application/x-ndjson"
    return StreamingResponse(
        lines(), media_type=media, headers={"content-disposition": f'attachment; filename="{name}"'}
    )
