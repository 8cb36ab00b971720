"""What every console request shares: the store, the management API, the console's users and
events, the session codec, templates; and the guards every route goes through.

Routes are plain functions ``(request, console, user) -> Response`` run in a worker thread
(the database calls block). :func:`page` lets any signed-in user read; :func:`action` also
demands an acting role and the session's CSRF token, and records what it refuses.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from workflow.console.access import ACTING_ROLES, LoginLimiter, SessionCodec

if TYPE_CHECKING:
    from starlette.templating import Jinja2Templates

    from persistence.console_access import ConsoleAccess
    from persistence.console_reads import ConsoleReads
    from persistence.store import SqlStore
    from workflow.core.clock import Clock
    from workflow.management.onboardings import Onboardings

__all__ = ["Console", "ConsoleSettings", "Form", "User", "action", "page"]

Handler = Callable[[Request, "Console", "User"], Response]
Endpoint = Callable[[Request], Awaitable[Response]]
#: Form fields read per request at most (a bulk form has a dozen).
_MAX_FIELDS: Final = 50
#: The largest spec file an amend reads (bytes, plus one to tell it is larger).
_MAX_UPLOAD: Final = 1_048_577


@dataclass(frozen=True)
class ConsoleSettings:
    """How the console runs.

    Attributes:
        session_secret: signs session cookies and CSRF tokens (32 bytes or more).
        secure_cookies: mark cookies ``Secure`` (off only when serving loopback over HTTP).
        session_hours: how long a session lasts.
        proxy_user_header: trusted-proxy mode: the header an SSO proxy puts the user's name in;
            ``None`` (the default) refuses the mode.
        trusted_proxies: the client addresses the header is believed from.
        bulk_confirm_above: a bulk action over more onboardings than this needs the count typed.
        login_attempts: failed sign-ins allowed per address and per user in 5 minutes.
    """

    session_secret: bytes
    secure_cookies: bool = True
    session_hours: float = 8.0
    proxy_user_header: str | None = None
    trusted_proxies: frozenset[str] = frozenset()
    bulk_confirm_above: int = 100
    login_attempts: int = 5

    def __post_init__(self) -> None:
        if len(self.session_secret) < 32:
            raise ValueError("session_secret: use at least 32 bytes")
        if self.proxy_user_header is not None and not self.trusted_proxies:
            raise ValueError(
                "proxy_user_header: name the proxy's addresses in trusted_proxies too; the "
                "header is believed only from them"
            )


@dataclass(frozen=True)
class User:
    """The signed-in user."""

    name: str
    role: str
    nonce: str

    @property
    def can_act(self) -> bool:
        """Whether the role may change onboardings."""
        return self.role in ACTING_ROLES


@dataclass
class Console:
    """The console's shared parts (one per app)."""

    store: SqlStore
    ops: Onboardings
    access: ConsoleAccess
    settings: ConsoleSettings
    templates: Jinja2Templates
    clock: Clock
    database_url: str
    codec: SessionCodec = field(init=False)
    limiter: LoginLimiter = field(init=False)
    batches: dict[str, Any] = field(default_factory=dict)
    overview: Any = None  # pages.OverviewCache, set by the app

    def __post_init__(self) -> None:
        age = int(timedelta(hours=self.settings.session_hours).total_seconds())
        self.codec = SessionCodec(self.settings.session_secret, max_age=age)
        self.limiter = LoginLimiter(attempts=self.settings.login_attempts)

    @contextmanager
    def reader(self) -> Iterator[ConsoleReads]:
        """The read path of the CLI (DB-API driver), one connection per use."""
        from persistence.console_reads import ConsoleReads
        from persistence.dbapi import Database, locate

        reads = ConsoleReads(Database(locate(self.database_url)))
        try:
            yield reads
        finally:
            reads.db.close()

    def render(
        self, request: Request, name: str, user: User | None, status: int = 200, **values: Any
    ) -> HTMLResponse:
        """A page from its template, with the user and the CSRF token every form carries."""
        csrf = self.codec.csrf_token(user.nonce) if user is not None else ""
        context = {"user": user, "csrf": csrf, "now": self.clock.now(), **values}
        response = self.templates.TemplateResponse(request, name, context, status_code=status)
        return response

    def record(self, kind: str, request: Request, user: str | None, detail: str = "") -> None:
        """Append a console event (sign-ins, refusals)."""
        remote = request.client.host if request.client else None
        self.access.record(
            kind, self.clock.now(), user_name=user, remote=remote, path=request.url.path,
            detail=detail or None,
        )  # fmt: skip

    def current_user(self, request: Request) -> User | None:
        """The user of this request: the trusted proxy's header, else the session cookie."""
        header = self.settings.proxy_user_header
        remote = request.client.host if request.client else ""
        if header is not None and remote in self.settings.trusted_proxies:
            name = request.headers.get(header)
            stored = self.access.user(name) if name else None
            return None if stored is None else User(stored.name, stored.role, f"proxy:{name}")
        session = self.codec.read(request.cookies.get(SessionCodec.COOKIE))
        if session is None:
            return None
        stored = self.access.user(session.user)
        return None if stored is None else User(stored.name, stored.role, session.nonce)


def _unauthenticated(request: Request) -> Response:
    if request.method == "GET" and "text/event-stream" not in request.headers.get("accept", ""):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return PlainTextResponse("sign in first", status_code=401)


def _answered(handler: Callable[..., Response]) -> Callable[..., Response]:
    """An unknown onboarding is a 404 page and a failing database a 503 page, in one sentence."""

    @functools.wraps(handler)
    def answered(request: Request, console: Console, user: User, *more: Any) -> Response:
        from workflow.core.errors import OnboardingNotFoundError, StoreError

        try:
            return handler(request, console, user, *more)
        except OnboardingNotFoundError as exc:
            return console.render(request, "message.html", user, status=404, message=str(exc))
        except StoreError as exc:
            return console.render(request, "message.html", user, status=503, message=str(exc))

    return answered


def page(handler: Handler) -> Endpoint:
    """A route any signed-in user may use (reads)."""
    answered = _answered(handler)

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        console: Console = request.app.state.console
        user = await run_in_threadpool(console.current_user, request)
        if user is None:
            return _unauthenticated(request)
        return await run_in_threadpool(answered, request, console, user)

    return endpoint


class Form(dict[str, list[str]]):
    """A posted form: every value of each field (an uploaded file as its text)."""

    def one(self, name: str, default: str = "") -> str:
        """The first value of a field."""
        values = self.get(name)
        return values[0] if values else default


FormHandler = Callable[[Request, Console, User, Form], Response]


async def _read_form(request: Request) -> Form:
    found = Form()
    async with request.form(max_files=1, max_fields=_MAX_FIELDS) as form:
        for key, value in form.multi_items():
            if not isinstance(value, str):
                value = (await value.read(_MAX_UPLOAD)).decode("utf-8", "replace")
            found.setdefault(key, []).append(value)
    return found


def action(*, acting: bool = True) -> Callable[[FormHandler], Endpoint]:
    """A state-changing POST: signed in, the session's CSRF token and (``acting``) a role
    that may change onboardings. Every refusal is a console event naming the user and path."""

    def wrap(handler: FormHandler) -> Endpoint:
        answered = _answered(handler)

        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            console: Console = request.app.state.console
            user = await run_in_threadpool(console.current_user, request)
            if user is None:
                return _unauthenticated(request)
            form = await _read_form(request)
            if not console.codec.check_csrf(user.nonce, form.one("csrf") or None):
                await run_in_threadpool(console.record, "refused", request, user.name, "CSRF")
                return PlainTextResponse("refused: the form's CSRF token is missing or wrong", 403)
            if acting and not user.can_act:
                await run_in_threadpool(console.record, "refused", request, user.name, user.role)
                return PlainTextResponse(f"refused: a {user.role} cannot change onboardings", 403)
            return await run_in_threadpool(answered, request, console, user, form)

        return endpoint

    return wrap
