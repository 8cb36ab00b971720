"""Signing in and out: the sign-in form (with its own CSRF token bound to a short-lived
cookie), the rate limit, and the console events each sign-in writes."""

from __future__ import annotations

import secrets
from typing import Final
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from workflow.console.access import SessionCodec, check_password
from workflow.console.context import Console, Form, User, _read_form, action

__all__ = ["login_form", "login_submit", "logout"]

#: The cookie binding a sign-in form to its browser (SameSite=Strict: a cross-site form has
#: none, so its post is refused).
FORM_COOKIE: Final = "console_login"


def _safe_next(target: str) -> str:
    """Only a path of this console (never another site)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _cookie(console: Console, response: Response, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name, value, max_age=age, httponly=True, samesite="strict",
        secure=console.settings.secure_cookies, path="/",
    )  # fmt: skip


async def login_form(request: Request) -> Response:
    """The sign-in page (its form nonce in a cookie, its token in the form)."""
    console: Console = request.app.state.console
    nonce = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(16)
    response = console.render(
        request, "login.html", None, next=_safe_next(request.query_params.get("next", "/")),
        login_token=console.codec.csrf_token("login|" + nonce), error=None,
    )  # fmt: skip
    _cookie(console, response, FORM_COOKIE, nonce, 3600)
    return response


async def login_submit(request: Request) -> Response:
    """Check the form's token, the rate limit and the password; start a session."""
    console: Console = request.app.state.console
    form = await _read_form(request)
    nonce = request.cookies.get(FORM_COOKIE, "")
    name, password = form.one("user")[:64], form.one("password")
    remote = request.client.host if request.client else ""
    if not nonce or not console.codec.check_csrf("login|" + nonce, form.one("csrf") or None):
        await run_in_threadpool(console.record, "refused", request, name or None, "sign-in CSRF")
        return PlainTextResponse("refused: sign in from the console's own sign-in page", 403)
    if console.limiter.blocked(remote, name):
        await run_in_threadpool(console.record, "login_limited", request, name or None)
        wait = "too many failed sign-ins: wait 5 minutes"
        return _again(request, console, nonce, form, wait, 429)
    stored = await run_in_threadpool(console.access.user, name)
    good = await run_in_threadpool(
        check_password, stored.password_hash if stored else None, password
    )
    if stored is None or not good:
        console.limiter.failed(remote, name)
        await run_in_threadpool(console.record, "login_failed", request, name or None)
        # 200, not 401: the form again, with the error (a browser logs a 401 as an error).
        return _again(request, console, nonce, form, "wrong user name or password", 200)
    console.limiter.succeeded(name)
    await run_in_threadpool(console.record, "login", request, name, stored.role)
    cookie, _ = console.codec.issue(name)
    response = RedirectResponse(_safe_next(form.one("next", "/")), status_code=303)
    _cookie(console, response, SessionCodec.COOKIE, cookie, console.codec.max_age)
    response.delete_cookie(FORM_COOKIE, path="/")
    return response


def _again(
    request: Request, console: Console, nonce: str, form: Form, error: str, status: int
) -> Response:
    return console.render(
        request, "login.html", None, status=status, error=error,
        next=_safe_next(form.one("next", "/")),
        login_token=console.codec.csrf_token("login|" + nonce),
    )  # fmt: skip


@action(acting=False)
def logout(request: Request, console: Console, user: User, form: Form) -> Response:
    """End the session (any role; the form's CSRF token still required)."""
    console.record("logout", request, user.name)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SessionCodec.COOKIE, path="/")
    return response
