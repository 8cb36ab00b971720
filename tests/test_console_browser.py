"""The console in a real browser: Debian's chromium driven by Playwright, the console served
by uvicorn on loopback over a SQLite database the engine filled against the sandbox.

Skipped when /usr/bin/chromium is missing (``.ci/run`` installs it). Every test fails on an
error in the browser's console; screenshots go to the test's temporary directory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli_process import environment, run
from tests.conftest import TEST_KEY, Fleet, Harness, _fresh_sqlite
from tests.console_helpers import PASSWORD, add_users, console_app
from workflow.adapters.serving import ServerThread

CHROMIUM = Path(os.environ.get("ONBOARDING_TEST_CHROMIUM", "/usr/bin/chromium"))
playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no browser at {CHROMIUM}"),
    pytest.mark.slow,
]
COMPARED = ("trigger", "from_state", "to_state", "actor", "reason", "details", "batch_id")


@pytest.fixture
def database_url_for_test(tmp_path: Path, migrated_sqlite: Path) -> str:
    """SQLite only: the browser tests read what the server writes, one backend is enough."""
    return _fresh_sqlite(migrated_sqlite, tmp_path)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless chromium for the module."""
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


@pytest.fixture
def server(harness: Harness, fleet: Fleet, database_url_for_test: str) -> Iterator[str]:
    """The console served on loopback (bulk over 2 needs the count typed)."""
    add_users(harness.store)
    app = console_app(
        harness.store, harness.vault, database_url_for_test, clock=harness.clock,
        bulk_confirm_above=2,
    )  # fmt: skip
    with ServerThread(app) as served:
        yield served.url


@pytest.fixture
def page(
    chromium: Any, server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Any]:
    """A fresh browser context and page; fails the test on any console error."""
    context = chromium.new_context(base_url=server)
    context.set_default_timeout(15_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    shots = Path(os.environ.get("ONBOARDING_TEST_ARTEFACTS", tmp_path)) / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    opened.screenshot(path=str(shots / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert errors == []


def sign_in(page: Any, name: str) -> None:
    page.goto("/")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    playwright_api.expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def _row(harness: Harness, onboarding_id: str) -> dict[str, Any]:
    entry = harness.store.history(onboarding_id)[-1]
    return {name: getattr(entry, name) for name in COMPARED}


def test_sign_in_then_out(page: Any) -> None:
    """The sign-in form leads to the overview; signing out leads back, and pages need it again."""
    expect = playwright_api.expect
    page.goto("/onboardings")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("User name").fill("olga")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("wrong user name or password")
    page.get_by_label("User name").fill("olga")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Onboardings")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/stuck")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_viewer_sees_no_action_and_cannot_post_one(
    page: Any, harness: Harness, fleet: Fleet
) -> None:
    """No action button for a viewer; a post with the viewer's own token is 403."""
    expect = playwright_api.expect
    sign_in(page, "vera")
    page.goto(f"/onboardings/{fleet.timeouts[0]}")
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(page.get_by_role("button", name="Resume")).to_have_count(0)
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    version = harness.store.get(fleet.timeouts[0]).version
    reply = page.request.post(
        f"/onboardings/{fleet.timeouts[0]}/act",
        form={"csrf": token, "action": "resume", "reason": "viewer tries"},
    )
    assert reply.status == 403
    assert harness.store.get(fleet.timeouts[0]).version == version


def test_filters_survive_a_reload(page: Any) -> None:
    """The filters are in the URL: a reload shows the same filter and the same rows."""
    expect = playwright_api.expect
    sign_in(page, "olga")
    page.get_by_role("link", name="Onboardings").click()
    page.get_by_label("State").select_option("needs_attention")
    page.get_by_label("Code").fill("COMPLETION_TIMEOUT")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#onboardings tbody tr")
    expect(rows).to_have_count(3)
    assert "code=COMPLETION_TIMEOUT" in page.url
    page.reload()
    expect(page.get_by_label("State")).to_have_value("needs_attention")
    expect(page.get_by_label("Code")).to_have_value("COMPLETION_TIMEOUT")
    expect(rows).to_have_count(3)


def test_a_bulk_dry_run_shows_the_count_then_the_run_changes_exactly_those(
    page: Any, harness: Harness, fleet: Fleet
) -> None:
    """Dry run: 3. Run with the count typed: those 3 resumed, the others untouched."""
    expect = playwright_api.expect
    sign_in(page, "olga")
    page.goto("/onboardings?state=needs_attention&code=COMPLETION_TIMEOUT")
    page.get_by_label("Action").select_option("resume")
    page.get_by_role("button", name="Dry run").click()
    expect(page.locator("#dry-count")).to_contain_text("3 onboarding(s) match")
    expect(page.locator("#dry-keys li")).to_have_count(3)
    versions = {o: harness.store.get(o).version for o in fleet.all}
    page.get_by_label("Reason").fill("callbacks were lost")
    page.get_by_label("Type the count").fill("3")
    page.get_by_role("button", name="Run on 3").click()
    expect(page.locator("#applied")).to_have_text("Changed: 3. Skipped: 0.")
    changed = {o for o in fleet.all if harness.store.get(o).version != versions[o]}
    assert changed == set(fleet.timeouts)


def test_a_resume_from_the_page_writes_the_row_the_cli_writes(
    page: Any, harness: Harness, fleet: Fleet, database_url_for_test: str
) -> None:
    """Resume from the button as olga; 'onboarding resume --actor olga' on another: same row."""
    expect = playwright_api.expect
    sign_in(page, "olga")
    page.goto(f"/onboardings/{fleet.timeouts[0]}")
    resume = page.get_by_role("group", name="Resume")
    resume.get_by_label("Reason").fill("the result was lost")
    resume.get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("state")).to_have_text("complete")
    done = run(
        "--db", database_url_for_test, "resume", "late-1", "--reason", "the result was lost",
        "--actor", "olga", env=environment(ONBOARDING_SECRET_KEY=TEST_KEY.decode()),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _row(harness, fleet.timeouts[0]) == _row(harness, fleet.timeouts[1])


def test_a_transition_appears_live_and_the_diagram_marks_the_current_state(
    page: Any, harness: Harness, fleet: Fleet
) -> None:
    """A cancel made elsewhere shows up on the open page without a reload."""
    expect = playwright_api.expect
    sign_in(page, "olga")
    page.goto(f"/onboardings/{fleet.fresh}")
    expect(page.locator("#state-pending")).to_contain_class("current")
    expect(page.locator("#live")).to_have_attribute("data-connected", "1")
    page.evaluate("window.notReloaded = true")
    harness.ops.cancel(fleet.fresh, actor="someone-else", reason="cancelled elsewhere")
    expect(page.get_by_test_id("state")).to_have_text("cancelled")
    expect(page.locator("#timeline")).to_contain_text("cancelled elsewhere")
    expect(page.locator("#state-cancelled")).to_contain_class("current")
    expect(page.locator("#state-pending")).to_contain_class("visited")
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)  # no longer applies
    assert page.evaluate("window.notReloaded") is True


def test_the_pages_work_from_the_keyboard_alone(page: Any, harness: Harness, fleet: Fleet) -> None:
    """Sign in, reach the stuck page and resume an onboarding with Tab, typing and Enter."""
    expect = playwright_api.expect
    page.goto("/")
    page.keyboard.type("olga")  # the user name field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    def tab_to(name: str) -> None:
        for _ in range(60):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent.trim()") == name:
                return
        raise AssertionError(f"Tab never reached {name!r}")

    tab_to("Stuck")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Stuck")).to_be_visible()
    page.goto(f"/onboardings/{fleet.timeouts[2]}")
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "reason-resume":
            break
    page.keyboard.type("resumed from the keyboard")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("state")).to_have_text("complete")
    assert harness.store.history(fleet.timeouts[2])[-1].reason == "resumed from the keyboard"


def test_chromium_is_where_ci_installs_it() -> None:
    """.ci/run installs Debian's chromium (these tests need it, and no browser download)."""
    script = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "apt-get install -y chromium" in script
    assert shutil.which("chromium") is not None


def test_the_pages_and_actions_work_without_javascript(
    chromium: Any, server: str, harness: Harness, fleet: Fleet
) -> None:
    """With scripts off, sign in, filter, read an onboarding and resume it: plain forms."""
    expect = playwright_api.expect
    context = chromium.new_context(base_url=server, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, "olga")
        page.goto("/onboardings?state=needs_attention&code=COMPLETION_TIMEOUT")
        expect(page.locator("#onboardings tbody tr")).to_have_count(3)
        page.goto(f"/onboardings/{fleet.timeouts[0]}")
        expect(page.locator("#timeline")).to_contain_text("pause")
        resume = page.get_by_role("group", name="Resume")
        resume.get_by_label("Reason").fill("no script needed")
        resume.get_by_role("button", name="Resume").click()
        expect(page.get_by_test_id("state")).to_have_text("complete")
    finally:
        context.close()
    assert harness.store.history(fleet.timeouts[0])[-1].reason == "no script needed"
