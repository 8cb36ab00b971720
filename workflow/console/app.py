"""The console as an ASGI app an embedding service can mount, like the callback receiver.

Server-rendered pages (Starlette routes, Jinja2 with autoescape); the one script
(``static/console.js``, shipped in the package) only makes the onboarding page live through
server-sent events: every page works without it. Every response carries a strict Content
Security Policy (no inline script or style) and the usual security headers.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workflow.console import actions, bulk_pages, pages
from workflow.console.access import prepare_sign_in
from workflow.console.context import Console, ConsoleSettings
from workflow.console.signin import login_form, login_submit, logout

if TYPE_CHECKING:
    from starlette.templating import Jinja2Templates

    from persistence.store import SqlStore
    from workflow.core.clock import Clock
    from workflow.ports import Vault

__all__ = ["SECURITY_HEADERS", "create_console_app"]

HERE: Final = Path(__file__).resolve().parent
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: Final = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cache-control", b"no-store"),
)


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` (and HSTS when cookies are Secure) to every response, and
    ``Server-Timing`` with the time to the response's first byte."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = list(SECURITY_HEADERS)
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.headers if n not in names]
                # How long the server took to the first byte (the benchmark reads it).
                took = (time.perf_counter() - started) * 1000
                extra.append((b"server-timing", f"app;dur={took:.1f}".encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def _templates() -> Jinja2Templates:
    import jinja2
    from starlette.templating import Jinja2Templates

    from workflow.console import filters

    # Autoescape everything: text from operators, specs and Sent is never markup.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True,
    )  # fmt: skip
    filters.install(env)
    return Jinja2Templates(env=env)


ROUTES: Final = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/", pages.overview),
    Route("/onboardings", pages.onboardings),
    Route("/search", pages.search),
    Route("/onboardings/{id}", pages.onboarding),
    Route("/onboardings/{id}/live", pages.live_fragment),
    Route("/onboardings/{id}/events", pages.live_events),
    Route("/onboardings/{id}/act", actions.act, methods=["POST"]),
    Route("/onboardings/{id}/amend", actions.amend_form),
    Route("/onboardings/{id}/amend", actions.amend_preview, methods=["POST"]),
    Route("/onboardings/{id}/amend/apply", actions.amend_apply, methods=["POST"]),
    Route("/stuck", pages.stuck),
    Route("/workers", pages.workers),
    Route("/audit", pages.audit),
    Route("/audit/export", pages.audit_export),
    Route("/bulk", bulk_pages.dry_run),
    Route("/bulk", bulk_pages.run, methods=["POST"]),
    Route("/batches", bulk_pages.batches),
    Route("/batches/{id}", bulk_pages.batch),
]


def create_console_app(
    store: SqlStore,
    vault: Vault,
    *,
    database_url: str,
    settings: ConsoleSettings,
    clock: Clock | None = None,
) -> Starlette:
    """The console on ``store`` (actions, users) and ``database_url`` (the read path).

    Args:
        vault: anchors the audit rows the actions write (the key the CLI's actions use).
        settings: the session secret, cookie and proxy settings (see :class:`ConsoleSettings`).
    """
    from persistence.console_access import ConsoleAccess
    from workflow.core.clock import SystemClock
    from workflow.management.onboardings import Onboardings

    clock = clock or SystemClock()
    prepare_sign_in()
    console = Console(
        store=store, ops=Onboardings(store, vault, clock=clock), access=ConsoleAccess(store.engine),
        settings=settings, templates=_templates(),
        clock=clock, database_url=database_url,
    )  # fmt: skip
    console.overview = pages.OverviewCache()
    routes = [*ROUTES, Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")]
    app = Starlette(routes=routes)
    app.state.console = console
    app.add_middleware(SecurityHeaders, hsts=settings.secure_cookies)
    return app
