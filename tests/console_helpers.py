"""Shared by the console's tests: an app on a test database, its users, signing in."""

from __future__ import annotations

import re
import warnings
from typing import Any

from persistence.console_access import ConsoleAccess
from persistence.store import SqlStore
from workflow.console import ConsoleSettings, create_console_app
from workflow.console.access import hash_password
from workflow.core.clock import Clock, SystemClock
from workflow.ports import Vault

with warnings.catch_warnings():
    # Starlette asks for httpx2 under its test client; httpx serves it the same.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PASSWORD = "correct horse battery staple"
#: Users of every role, all with :data:`PASSWORD`.
USERS = {"olga": "operator", "vera": "viewer", "adam": "admin"}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def add_users(store: SqlStore, clock: Clock | None = None) -> None:
    """Add :data:`USERS` to the database."""
    access = ConsoleAccess(store.engine)
    hashed = hash_password(PASSWORD)
    for name, role in USERS.items():
        access.add_user(name, hashed, role, (clock or SystemClock()).now())


def console_app(
    store: SqlStore, vault: Vault, url: str, clock: Clock | None = None, **settings: Any
) -> Any:
    """The console on a test database (cookies not Secure: served over plain HTTP)."""
    options = ConsoleSettings(**{"session_secret": b"s" * 32, "secure_cookies": False, **settings})
    return create_console_app(store, vault, database_url=url, settings=options, clock=clock)


def client(app: Any, **kwargs: Any) -> TestClient:
    """A test client speaking to ``app`` as a browser on loopback would."""
    return TestClient(app, **{"base_url": "http://127.0.0.1", **kwargs})


def sign_in(browser: TestClient, name: str, password: str = PASSWORD) -> Any:
    """Sign in through the form, as a browser does; returns the response to the post."""
    form = browser.get("/login")
    token = CSRF.search(form.text)
    assert token is not None, form.text
    return browser.post(
        "/login",
        data={"user": name, "password": password, "csrf": token.group(1), "next": "/"},
        follow_redirects=False,
    )


def csrf_of(browser: TestClient, path: str = "/") -> str:
    """The CSRF token the signed-in user's pages carry."""
    found = CSRF.search(browser.get(path).text)
    assert found is not None
    return found.group(1)
