"""Shared by the console's tests: an app on a test database, its users, signing in."""

from __future__ import annotations

import re
import warnings
from typing import Any

from argon2 import PasswordHasher

from persistence.console_access import ConsoleAccess
from persistence.store import SqlStore
from workflow.console import ConsoleSettings, create_console_app
from workflow.core.clock import Clock, SystemClock
from workflow.ports import Vault

with warnings.catch_warnings():
    # Starlette asks for httpx2 under its test client; httpx serves it the same.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PASSWORD = "correct horse battery staple"
#: Users of every role, all with :data:`PASSWORD`.
USERS = {"olga": "operator", "vera": "viewer", "adam": "admin"}
#: :data:`PASSWORD` as an argon2id hash with the smallest costs argon2 allows, made once: a sign-in
#: verifies it as it would any stored hash (argon2 reads the costs from the hash), in well under a
#: millisecond instead of the production costs' tenths of a second on each test's setup and sign-in.
#: The production hash (``hash_password``) is what ``onboarding console user add`` stores, and its
#: own test checks it.
CHEAP_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def add_users(store: SqlStore, clock: Clock | None = None) -> None:
    """Add :data:`USERS` to the database."""
    access = ConsoleAccess(store.engine)
    for name, role in USERS.items():
        access.add_user(name, CHEAP_HASH, role, (clock or SystemClock()).now())


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
