"""The console as an attacker meets it: no page or endpoint without a session, viewers cannot
act, no post without the session's CSRF token, markup never rendered, sign-ins limited and
recorded, the proxy header believed only when configured."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from typing import Any

import pytest
from starlette.routing import Route

from persistence.console_access import ConsoleAccess
from persistence.store import SqlStore
from tests.conftest import TEST_VAULT
from tests.console_helpers import add_users, client, console_app, csrf_of, sign_in
from workflow.console.app import ROUTES
from workflow.core.spec import parse_spec
from workflow.management.onboardings import Onboardings


@pytest.fixture
def onboarding_id(sqlite_store: SqlStore, samples: dict[str, Any], today: date) -> str:
    """One pending onboarding, for the routes that name one."""
    ops = Onboardings(sqlite_store, TEST_VAULT)
    return ops.start(parse_spec(samples["demo-inherited"], today=today)).id


@pytest.fixture
def app(sqlite_store: SqlStore, onboarding_id: str) -> Any:
    """The console on a SQLite database holding one onboarding and a user of each role."""
    add_users(sqlite_store)
    return console_app(sqlite_store, TEST_VAULT, str(sqlite_store.engine.url))


def _state(store: SqlStore, onboarding_id: str) -> tuple[str, int]:
    row = store.get(onboarding_id)
    return row.state, row.version


def _events(store: SqlStore, kind: str) -> list[Any]:
    return [e for e in ConsoleAccess(store.engine).events() if e.kind == kind]


PUBLIC = {"/login"}


def _routes(onboarding_id: str) -> list[tuple[str, str]]:
    found = []
    for route in ROUTES:
        assert isinstance(route, Route)
        for method in sorted(route.methods or ()):
            if method != "HEAD" and route.path not in PUBLIC:
                found.append((method, route.path.replace("{id}", onboarding_id)))
    return found


def test_every_route_without_a_session_sends_to_the_sign_in_or_is_refused(
    app: Any, onboarding_id: str
) -> None:
    """GET pages redirect to /login (keeping where to go back); everything else is 401."""
    anonymous = client(app)
    routes = _routes(onboarding_id)
    assert len(routes) == 19  # every route of the app but the sign-in page
    for method, path in routes:
        reply = anonymous.request(method, path, follow_redirects=False)
        if method == "GET":
            assert reply.status_code == 303, (method, path)
            assert reply.headers["location"].startswith("/login?next=%2F"), path
        else:
            assert reply.status_code == 401, (method, path)
        assert onboarding_id not in reply.text


def test_a_forged_or_foreign_session_cookie_is_no_session(app: Any) -> None:
    """A cookie not signed with the console's secret is ignored."""
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer(b"x" * 32, salt="onboarding-console-session").dumps(
        ["adam", "nonce"]
    )
    for cookie in (forged, "adam", ""):
        browser = client(app, cookies={"console_session": cookie})
        assert browser.get("/", follow_redirects=False).status_code == 303


def test_a_viewer_sees_no_action_and_is_refused_every_action(
    app: Any, sqlite_store: SqlStore, onboarding_id: str
) -> None:
    """No action form on the viewer's pages; each action endpoint answers 403 and is recorded."""
    viewer = client(app)
    assert sign_in(viewer, "vera").status_code == 303
    page = viewer.get(f"/onboardings/{onboarding_id}")
    assert page.status_code == 200
    assert "/act" not in page.text
    assert "Amend the spec" not in page.text
    assert "Dry run" not in viewer.get("/onboardings?state=pending").text
    token = csrf_of(viewer)
    before = _state(sqlite_store, onboarding_id)
    posts = [(m, p) for m, p in _routes(onboarding_id) if m == "POST" and p != "/logout"]
    assert len(posts) == 4
    form = {"csrf": token, "action": "cancel", "reason": "viewer tries", "state": "pending"}
    for _, path in posts:
        reply = viewer.post(path, data=form, follow_redirects=False)
        assert reply.status_code == 403, path
    assert _state(sqlite_store, onboarding_id) == before
    refused = _events(sqlite_store, "refused")
    assert len(refused) == 4
    assert {e.user_name for e in refused} == {"vera"}
    assert {e.detail for e in refused} == {"viewer"}


def test_a_post_without_the_sessions_csrf_token_is_refused(
    app: Any, sqlite_store: SqlStore, onboarding_id: str
) -> None:
    """An operator's session alone does not act: a cross-site form has no (or another) token."""
    operator = client(app)
    sign_in(operator, "olga")
    other = client(app)
    sign_in(other, "adam")
    foreign_token = csrf_of(other)
    before = _state(sqlite_store, onboarding_id)
    path = f"/onboardings/{onboarding_id}/act"
    own = csrf_of(operator)
    altered = own[:-1] + ("1" if own.endswith("0") else "0")  # one hex digit changed
    for token in (None, "", foreign_token, altered):
        form = {"action": "cancel", "reason": "cross-site"}
        if token is not None:
            form["csrf"] = token
        headers = {"origin": "https://evil.example", "referer": "https://evil.example/"}
        reply = operator.post(path, data=form, headers=headers, follow_redirects=False)
        assert reply.status_code == 403
    assert _state(sqlite_store, onboarding_id) == before
    assert len(_events(sqlite_store, "refused")) == 4
    done = operator.post(
        path, data={"action": "cancel", "reason": "ok", "csrf": csrf_of(operator)},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303
    assert _state(sqlite_store, onboarding_id)[0] == "cancelled"


def test_a_sign_in_form_posted_from_another_site_is_refused(app: Any) -> None:
    """Without the sign-in page's own cookie (SameSite=Strict), a posted sign-in is refused."""
    browser = client(app)
    token = csrf_of(browser, "/login")
    browser.cookies.clear()
    reply = browser.post(
        "/login", data={"user": "olga", "password": "correct horse battery staple", "csrf": token},
        follow_redirects=False,
    )  # fmt: skip
    assert reply.status_code == 403
    assert "console_session" not in reply.cookies


def test_markup_in_a_reason_and_in_a_spec_is_shown_as_text(
    app: Any, sqlite_store: SqlStore, onboarding_id: str, samples: dict[str, Any]
) -> None:
    """A reason and spec fields holding HTML come back escaped, never as markup."""
    operator = client(app)
    sign_in(operator, "olga")
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    path = f"/onboardings/{onboarding_id}"
    reply = operator.post(
        f"{path}/act", data={"action": "retry", "reason": evil, "csrf": csrf_of(operator)}
    )
    assert reply.status_code == 200
    page = operator.get(path).text
    assert evil not in page
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    )
    spec = dict(samples["demo-inherited"])
    spec["profile"] = {**spec["profile"], "description": evil}
    preview = operator.post(
        f"{path}/amend", data={"spec": json.dumps(spec), "reason": evil, "csrf": csrf_of(operator)}
    )
    assert preview.status_code == 200, preview.text
    assert "<script>" not in preview.text
    assert "<img" not in preview.text
    assert "profile.description" in preview.text


def test_every_response_carries_a_strict_policy_and_security_headers(app: Any) -> None:
    """No inline script or style allowed; no framing; no sniffing; nothing cached."""
    operator = client(app)
    sign_in(operator, "olga")
    for path in ("/login", "/", "/static/console.js"):
        headers = operator.get(path).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "style-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
    assert "<script>" not in operator.get("/").text  # the one script is a file


def test_the_session_cookie_is_httponly_strict_and_secure_off_loopback(
    sqlite_store: SqlStore, onboarding_id: str
) -> None:
    """HttpOnly and SameSite=Strict always; Secure whenever the console is not on loopback."""
    add_users(sqlite_store)
    for secure in (False, True):
        url = str(sqlite_store.engine.url)
        app = console_app(sqlite_store, TEST_VAULT, url, secure_cookies=secure)
        base = "https://console.example" if secure else "http://127.0.0.1"
        reply = sign_in(client(app, base_url=base), "olga")
        cookie = next(
            v for k, v in reply.headers.multi_items()
            if k == "set-cookie" and v.startswith("console_session=")
        )  # fmt: skip
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert ("Secure" in cookie) is secure


def test_failed_sign_ins_are_limited_and_every_sign_in_is_recorded(
    app: Any, sqlite_store: SqlStore
) -> None:
    """Five wrong passwords, then even the right one waits; each attempt is a console event."""
    browser = client(app)
    assert sign_in(browser, "olga").status_code == 303
    for _ in range(5):
        refused = sign_in(browser, "olga", "wrong password!!")
        assert refused.status_code == 200
        assert "wrong user name or password" in refused.text
        assert "console_session" not in refused.cookies
    assert sign_in(browser, "olga").status_code == 429
    assert sign_in(browser, "nobody-at-all", "whatever password").status_code == 429
    assert len(_events(sqlite_store, "login")) == 1
    assert len(_events(sqlite_store, "login_failed")) == 5
    assert len(_events(sqlite_store, "login_limited")) == 2


def test_a_removed_user_is_signed_out_at_the_next_request(app: Any, sqlite_store: SqlStore) -> None:
    """Roles and users are read on every request: removing a user ends their session."""
    browser = client(app)
    sign_in(browser, "olga")
    assert browser.get("/", follow_redirects=False).status_code == 200
    ConsoleAccess(sqlite_store.engine).remove_user("olga")
    assert browser.get("/", follow_redirects=False).status_code == 303


def test_the_proxy_header_is_believed_only_when_configured_and_from_the_proxy(
    sqlite_store: SqlStore, onboarding_id: str
) -> None:
    """Off by default; on, only from a trusted address, and only for a user in the database."""
    add_users(sqlite_store)
    url = str(sqlite_store.engine.url)
    plain = client(console_app(sqlite_store, TEST_VAULT, url))
    header = {"x-forwarded-user": "adam"}
    assert plain.get("/", headers=header, follow_redirects=False).status_code == 303
    with pytest.raises(ValueError, match="trusted_proxies"):
        console_app(sqlite_store, TEST_VAULT, url, proxy_user_header="x-forwarded-user")
    other = console_app(
        sqlite_store, TEST_VAULT, url, proxy_user_header="x-forwarded-user",
        trusted_proxies=frozenset({"10.0.0.1"}),
    )  # fmt: skip
    assert client(other).get("/", headers=header, follow_redirects=False).status_code == 303
    proxied = console_app(
        sqlite_store, TEST_VAULT, url, proxy_user_header="x-forwarded-user",
        trusted_proxies=frozenset({"testclient"}),
    )  # fmt: skip
    browser = client(proxied)
    assert browser.get("/", headers=header).status_code == 200
    unknown = {"x-forwarded-user": "mallory"}
    assert browser.get("/", headers=unknown, follow_redirects=False).status_code == 303


def test_no_page_shows_a_card_number_or_a_whatsapp_token(
    sqlite_store: SqlStore, secret_spec: dict[str, Any], today: date
) -> None:
    """The onboarding page, its amend form and the export never show the spec's secrets."""
    from tests.conftest import CARD_NUMBER, CVC, WHATSAPP_TOKEN

    add_users(sqlite_store)
    started = Onboardings(sqlite_store, TEST_VAULT).start(parse_spec(secret_spec, today=today))
    browser = client(console_app(sqlite_store, TEST_VAULT, str(sqlite_store.engine.url)))
    sign_in(browser, "olga")
    for path in (
        f"/onboardings/{started.id}", f"/onboardings/{started.id}/amend",
        f"/onboardings/{started.id}/live", "/audit/export", "/audit/export?format=csv",
        f"/search?q={started.key}",
    ):  # fmt: skip
        text = browser.get(path).text
        assert CARD_NUMBER not in text, path
        assert WHATSAPP_TOKEN not in text, path
        assert f'"cvc": "{CVC}"' not in text, path
    assert "sealed until sent" in browser.get(f"/onboardings/{started.id}").text


def test_an_unknown_onboarding_is_a_404_page_on_every_route(app: Any) -> None:
    """Each page and action naming an onboarding that does not exist says so, in a sentence."""
    browser = client(app)
    sign_in(browser, "olga")
    token = csrf_of(browser)
    for path in ("/onboardings/nope", "/onboardings/nope/live", "/onboardings/nope/amend"):
        reply = browser.get(path)
        assert reply.status_code == 404, path
        assert "no onboarding with id, key or profile id &#39;nope&#39;" in reply.text
    for path in ("/onboardings/nope/amend", "/onboardings/nope/amend/apply"):
        reply = browser.post(path, data={"csrf": token, "spec": "{}", "reason": "r"})
        assert reply.status_code in (400, 404, 409), path  # the spec is refused first
    reply = browser.post(
        "/onboardings/nope/act", data={"csrf": token, "action": "retry", "reason": "r"}
    )
    assert reply.status_code == 409
    assert "no onboarding with" in reply.text


def test_adding_a_user_hashes_once_and_a_console_makes_the_unknown_users_hash_at_start() -> None:
    """``console user add`` pays for one argon2id hash, its own; a console makes the hash an
    unknown user's sign-in is checked against when it starts, not on that first sign-in."""
    script = """
import argon2
made = []
original = argon2.PasswordHasher.hash
argon2.PasswordHasher.hash = lambda self, *a, **k: made.append(1) or original(self, *a, **k)
from workflow.console import access
access.hash_password("a long enough password")
print(len(made))
access.prepare_sign_in()
access.check_password(None, "a long enough password")
print(len(made))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["1", "2"]
