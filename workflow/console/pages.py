"""The read pages: overview, onboardings (filtered, cursor pages), search, one onboarding
(live), stuck, workers. Every read goes through the CLI's read path
(:mod:`persistence.reader`, :mod:`persistence.console_reads`) or the bulk selection
(:mod:`persistence.selection`), so the list shows exactly what a bulk action would act on."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from workflow.console.audit_pages import audit, audit_export
from workflow.console.context import Console, User, page
from workflow.console.listing import parse_filter
from workflow.console.views import actions_for, diagram_svg, timeline, waiting_on
from workflow.core.errors import OnboardingError, OnboardingNotFoundError

if TYPE_CHECKING:
    from workflow.flows import FlowDefinition

__all__ = [
    "OverviewCache", "audit", "audit_export", "live_events", "live_fragment", "onboarding",
    "onboardings", "overview", "search", "stuck", "workers",
]  # fmt: skip

PAGE_ROWS: Final = 50
#: ``stuck``'s defaults: overdue after 5 minutes, waiting for a result after 30.
OVERDUE: Final = timedelta(minutes=5)
WAITING: Final = timedelta(minutes=30)
LIVE_POLL_SECONDS: Final = 1.0
#: How long the overview's counts are served before they are counted again.
FRESH_SECONDS: Final = 10.0


def _stuck_query(console: Console) -> Any:
    from persistence.reader import StuckQuery

    now = console.clock.now()
    return StuckQuery(now, now - OVERDUE, now - WAITING)


def _workers(reads: Any, now: Any) -> list[dict[str, Any]]:
    from persistence.reader import worker_status

    rows = reads.workers(seen_since=now - timedelta(days=1))
    return [{**r, "status": worker_status(r, now)} for r in rows]


class OverviewCache:
    """The overview's counts, shared by every request for :data:`FRESH_SECONDS`; older ones are
    served while one background thread counts again (a stale-while-revalidate cache).

    Counting takes about 30 ms at 100,000 onboardings on SQLite and 170 ms at 1,000,000 on
    PostgreSQL (``stuck --summary`` reads the counts triggers keep); a dashboard several people
    keep open needs it once every few seconds, not once per request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: tuple[float, dict[str, Any]] | None = None
        self._refreshing = False

    def get(self, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The counts: fresh ones, else the last ones while a refresh runs, else computed now."""
        with self._lock:
            held, refresh = self._held, False
            if held is not None and time.monotonic() - held[0] > FRESH_SECONDS:
                refresh, self._refreshing = not self._refreshing, True
        if held is None:
            return self._store(compute())
        if refresh:
            threading.Thread(target=self._refresh, args=(compute,), daemon=True).start()
        return held[1]

    def _store(self, values: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._held = (time.monotonic(), values)
        return values

    def _refresh(self, compute: Callable[[], dict[str, Any]]) -> None:
        try:
            self._store(compute())
        finally:
            with self._lock:
                self._refreshing = False


def _overview_counts(console: Console) -> dict[str, Any]:
    from workflow.flows import FLOW, FLOWS

    now = console.clock.now()
    with console.reader() as reads:
        counts = reads.state_counts()
        groups = reads.stuck_summary(_stuck_query(console))
        oldest = reads.oldest_due()
        found = _workers(reads, now)
        recent = reads.transitions_since(now - timedelta(hours=1))
        outcomes = reads.outcomes()
    ends = {*FLOW.machine.terminal_states, "needs_attention"}
    return {
        "counted_at": now, "states": FLOWS.states, "counts": counts, "groups": groups,
        "oldest": oldest, "live": sum(w["status"] == "live" for w in found),
        "dead": sum(w["status"] == "dead" for w in found), "recent": recent,
        "recent_outcomes": {s: n for s, n in recent.items() if s in ends},
        "outcomes": outcomes, "total": sum(counts.values()),
    }  # fmt: skip


@page
def overview(request: Request, console: Console, user: User) -> Response:
    """Counts by state and cause, oldest due, workers, the last hour, predicted vs actual."""
    values = console.overview.get(lambda: _overview_counts(console))
    return console.render(request, "overview.html", user, fresh=FRESH_SECONDS, **values)


@page
def onboardings(request: Request, console: Console, user: User) -> Response:
    """A page of onboardings under the URL's filters, oldest first, after the URL's cursor."""
    from workflow.flows import FLOWS
    from workflow.management.public import decode_cursor, encode_cursor

    params = {k: request.query_params.getlist(k) for k in request.query_params}
    wanted = parse_filter(params)
    error, rows, more = None, [], None
    try:
        after = decode_cursor(request.query_params.get("after") or None)
        selector = wanted.selector(console.clock.now())
        rows = console.store.page_selected(selector, after=after, limit=PAGE_ROWS + 1)
    except (OnboardingError, ValueError) as exc:
        error = str(exc)
    if len(rows) > PAGE_ROWS:
        rows = rows[:PAGE_ROWS]
        last = rows[-1]
        more = wanted.query(after=encode_cursor({"created_at": last.created_at, "id": last.id}))
    return console.render(
        request, "onboardings.html", user, status=400 if error else 200, rows=rows,
        wanted=wanted, more=more, error=error, states=FLOWS.states,
    )  # fmt: skip


@page
def search(request: Request, console: Console, user: User) -> Response:
    """Exact key, onboarding id, profile id, Idempotency-Key or Sent request id."""
    text = request.query_params.get("q", "").strip()[:255]
    found: list[dict[str, Any]] = []
    if text:
        with console.reader() as reads:
            found = reads.search(text)
    if len(found) == 1:
        return RedirectResponse(f"/onboardings/{found[0]['id']}", status_code=303)
    return console.render(request, "search.html", user, q=text, found=found)


def _detail(console: Console, ident: str) -> dict[str, Any]:
    now = console.clock.now()
    with console.reader() as reads:
        row = reads.find(ident, spec=True)
        history = reads.history(row["id"])
        attempts = reads.attempts(row["id"])
        holder = None
        if row.get("lease_owner"):
            holder = next((w for w in reads.workers() if w["id"] == row["lease_owner"]), None)
        created_by = _flow_of(row).profile_step
        profiles = reads.resource_ids(row["id"], created_by.name) if created_by else []
    return {
        "row": row, "events": timeline(history, attempts), "waiting": waiting_on(row, holder, now),
        "svg": diagram_svg(row, history), "actions": actions_for(row), "profiles": profiles,
    }  # fmt: skip


@page
def onboarding(request: Request, console: Console, user: User) -> Response:
    """One onboarding: what it waits on, diagram, timeline, prediction, spec, actions."""
    try:
        detail = _detail(console, request.path_params["id"])
    except OnboardingNotFoundError as exc:
        return console.render(request, "message.html", user, status=404, message=str(exc))
    return console.render(request, "onboarding.html", user, **detail)


@page
def live_fragment(request: Request, console: Console, user: User) -> Response:
    """The live part of the onboarding page (what the script swaps in on each change)."""
    try:
        detail = _detail(console, request.path_params["id"])
    except OnboardingNotFoundError as exc:
        return console.render(request, "message.html", user, status=404, message=str(exc))
    return console.render(request, "_live.html", user, **detail)


@page
def live_events(request: Request, console: Console, user: User) -> Response:
    """Server-sent events: ``change`` each time the onboarding's checkpoint changes."""
    ident = request.path_params["id"]

    def position() -> int | None:
        with console.reader() as reads:
            return reads.position(ident)

    async def stream() -> AsyncIterator[str]:
        seen = await run_in_threadpool(position)
        yield f"retry: 2000\nevent: ready\ndata: {seen}\n\n"
        quiet = 0.0
        while not await request.is_disconnected():
            await asyncio.sleep(LIVE_POLL_SECONDS)
            now = await run_in_threadpool(position)
            if now != seen:
                seen, quiet = now, 0.0
                yield f"event: change\ndata: {now}\n\n"
            else:
                quiet += LIVE_POLL_SECONDS
                if quiet >= 15:
                    quiet = 0.0
                    yield ": still here\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


@page
def stuck(request: Request, console: Console, user: User) -> Response:
    """The groups of ``stuck``, each with its fix and the console action that applies it."""
    from workflow.management.fixes import MEANING, described, fix

    query = _stuck_query(console)
    with console.reader() as reads:
        live = sum(w["status"] == "live" for w in _workers(reads, query.now))
        summary = reads.stuck_summary(query)
        rows = [described(r, query.now, live) for r in reads.stuck(query, per_group=10)]
    groups = []
    for group in summary:
        cause, code = group["cause"], group["code"]
        groups.append({
            **group, "meaning": MEANING[cause], "fix": fix(cause, "KEY", live, code),
            "rows": [r for r in rows if r["cause"] == cause and r["code"] == code],
            "bulk": _bulk_link(cause, code),
        })  # fmt: skip
    return console.render(request, "stuck.html", user, groups=groups, live=live)


def _bulk_link(cause: str, code: str | None) -> str | None:
    """The bulk dry run that applies a group's fix (:mod:`workflow.management.fixes`), when one
    command fixes every onboarding of the group (not an amend, which is one spec each, nor an
    adoption, which a person decides one by one)."""
    from urllib.parse import urlencode

    from workflow.management.fixes import fix_for

    if cause == "retrying":
        return "/bulk?" + urlencode({"action": "retry", "code": code or ""})
    if cause != "paused" or not code or code.upper() == "OWNERSHIP_UNPROVEN":
        return None
    fix = fix_for(code)
    if fix.action not in ("resume", "rewind", "cancel"):
        return None
    query = {"action": fix.action, "state": "needs_attention", "code": code}
    if fix.options.startswith("--to "):
        query["target"] = fix.options.split()[1]
    return "/bulk?" + urlencode(query)


@page
def workers(request: Request, console: Console, user: User) -> Response:
    """Worker processes: live, dead or stopped (seen in the last day)."""
    now = console.clock.now()
    with console.reader() as reads:
        found = _workers(reads, now)
    return console.render(request, "workers.html", user, workers=found)


def _flow_of(row: dict[str, Any]) -> FlowDefinition:
    """The flow definition the onboarding runs under (its own version)."""
    from workflow.flows import FLOW, FLOWS

    return FLOWS.get(int(row.get("flow_version") or FLOW.version), FLOW)
