"""The console's pages and actions on onboardings the engine made against the sandbox: each
action writes the audit row its CLI twin writes; bulk acts on exactly the dry run's selection;
filters, cursor pages and search read what the CLI reads."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import pytest
from sqlalchemy import text

from tests.cli_process import environment, run
from tests.conftest import TEST_KEY, Fleet, Harness
from tests.console_helpers import add_users, client, console_app, csrf_of, sign_in
from workflow.console import pages

#: What an audit row says, beside when it was written and its digest.
COMPARED = ("trigger", "from_state", "to_state", "actor", "reason", "details", "batch_id")


@pytest.fixture
def operator(harness: Harness, database_url_for_test: str) -> Any:
    """An operator signed in to the console on the harness's database and clock."""
    add_users(harness.store)
    app = console_app(
        harness.store, harness.vault, database_url_for_test, clock=harness.clock,
        bulk_confirm_above=2,
    )  # fmt: skip
    browser = client(app)
    assert sign_in(browser, "olga").status_code == 303
    return browser


def _row(harness: Harness, onboarding_id: str) -> dict[str, Any]:
    entry = harness.store.history(onboarding_id)[-1]
    return {name: getattr(entry, name) for name in COMPARED}


def _wait_for_batch(batch_id: str) -> None:
    for thread in threading.enumerate():
        if thread.name == f"console-batch-{batch_id}":
            thread.join(timeout=60)
            assert not thread.is_alive()


@pytest.mark.parametrize(
    ("form", "cli"),
    [
        ({"action": "resume"}, ["resume"]),
        ({"action": "retry"}, ["retry"]),
        ({"action": "rewind", "target": "campaigns"}, ["rewind", "--to", "campaigns"]),
        ({"action": "cancel", "delete_at_sent": "1"}, ["cancel", "--delete-at-sent"]),
    ],
    ids=["resume", "retry", "rewind", "cancel"],
)
def test_an_action_from_the_console_writes_the_row_the_cli_writes(
    harness: Harness,
    fleet: Fleet,
    operator: Any,
    database_url_for_test: str,
    form: dict[str, str],
    cli: list[str],
) -> None:
    """The same action, once from the page as olga and once as 'onboarding ACTION --actor
    olga': the two audit rows say the same (trigger, states, actor, reason, details, batch)."""
    by_console, by_cli = fleet.timeouts[0], fleet.timeouts[1]
    reason = "Sent's callback was lost; read the result again"
    reply = operator.post(
        f"/onboardings/{by_console}/act",
        data={**form, "reason": reason, "csrf": csrf_of(operator)},
        follow_redirects=False,
    )
    assert reply.status_code == 303
    key = harness.store.get(by_cli).key
    done = run(
        "--db", database_url_for_test, cli[0], key, *cli[1:], "--reason", reason, "--actor",
        "olga", env=environment(ONBOARDING_SECRET_KEY=TEST_KEY.decode()),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    console_row, cli_row = _row(harness, by_console), _row(harness, by_cli)
    assert console_row == cli_row
    assert console_row["trigger"] == form["action"]
    assert console_row["actor"] == "olga"


def test_a_bulk_dry_run_counts_then_the_run_changes_exactly_those(
    harness: Harness, fleet: Fleet, operator: Any
) -> None:
    """Resume every COMPLETION_TIMEOUT pause from the list's filter: the dry run says 3 and
    names them; the run (count typed: above the threshold of 2) resumes those 3, one batch."""
    query = "action=resume&state=needs_attention&code=COMPLETION_TIMEOUT"
    dry = operator.get(f"/bulk?{query}")
    assert dry.status_code == 200
    assert re.search(r'id="dry-count"><strong>3</strong>', dry.text)
    assert sorted(re.findall(r"<li>(late-\d) \(needs_attention", dry.text)) == [
        "late-0", "late-1", "late-2",
    ]  # fmt: skip
    versions = {o: harness.store.get(o).version for o in fleet.all}
    form = {
        "csrf": csrf_of(operator), "action": "resume", "state": "needs_attention",
        "code": "COMPLETION_TIMEOUT", "reason": "callbacks were lost",
    }  # fmt: skip
    refused = operator.post("/bulk", data=form, follow_redirects=False)
    batch_id = refused.headers["location"].rsplit("/", 1)[1]
    _wait_for_batch(batch_id)
    assert "type that count to confirm" in operator.get(f"/batches/{batch_id}").text
    assert {o: harness.store.get(o).version for o in fleet.all} == versions
    ran = operator.post("/bulk", data={**form, "confirm_count": "3"}, follow_redirects=False)
    batch_id = ran.headers["location"].rsplit("/", 1)[1]
    _wait_for_batch(batch_id)
    page = operator.get(f"/batches/{batch_id}").text
    assert "Changed: 3. Skipped: 0." in page
    assert "3 of 3 written" in page
    for onboarding_id in fleet.timeouts:
        entry = harness.store.history(onboarding_id)[-1]
        assert (entry.trigger, entry.actor, entry.batch_id) == ("resume", "olga", batch_id)
    for untouched in (fleet.prerequisites, fleet.fresh):
        assert harness.store.get(untouched).version == versions[untouched]
    listed = operator.get(f"/onboardings?batch={batch_id}").text
    assert sorted(re.findall(r">(late-\d)</a>", listed)) == ["late-0", "late-1", "late-2"]
    with harness.store.engine.connect() as connection:
        stored = connection.execute(
            text(
                "SELECT actor, action, selection, matched, changed, skipped FROM batches "
                "WHERE id = :id"
            ),
            {"id": batch_id},
        ).one()
    assert tuple(stored) == (
        "olga", "resume", "console: state=needs_attention&code=COMPLETION_TIMEOUT", 3, 3, 0,
    )  # fmt: skip
    assert f'href="/batches/{batch_id}"' in operator.get("/batches").text


def test_a_rewind_offers_the_earlier_states_and_goes_to_the_one_picked(
    harness: Harness, fleet: Fleet, operator: Any
) -> None:
    """Paused in campaigns: the picker lists pending to campaigns; the rewind is audited."""
    path = f"/onboardings/{fleet.prerequisites}"
    page = operator.get(path).text
    picker = re.search(r'<select id="target-rewind" name="target">(.*?)</select>', page, re.S)
    assert picker is not None
    assert re.findall(r"<option>(\w+)</option>", picker.group(1)) == [
        "pending", "incomplete", "brand", "campaigns",
    ]  # fmt: skip
    reply = operator.post(
        f"{path}/act",
        data={"action": "rewind", "target": "brand", "reason": "brand fixed", "csrf": csrf_of(operator)},
        follow_redirects=False,
    )  # fmt: skip
    assert reply.status_code == 303
    assert harness.store.get(fleet.prerequisites).state == "brand"
    row = _row(harness, fleet.prerequisites)
    assert row["details"] == {"target": "brand", "delete_at_sent": False}
    assert row["actor"] == "olga"


def test_an_action_without_a_reason_or_that_does_not_apply_is_refused_in_a_sentence(
    harness: Harness, fleet: Fleet, operator: Any
) -> None:
    """No reason: refused naming it; resume of a pending onboarding: the machine's refusal."""
    path = f"/onboardings/{fleet.fresh}/act"
    version = harness.store.get(fleet.fresh).version
    blank = operator.post(path, data={"action": "resume", "reason": " ", "csrf": csrf_of(operator)})
    assert blank.status_code == 409
    assert "reason: say why" in blank.text
    wrong = operator.post(path, data={"action": "resume", "reason": "x", "csrf": csrf_of(operator)})
    assert wrong.status_code == 409
    assert "resume" in wrong.text
    assert "Traceback" not in wrong.text
    assert harness.store.get(fleet.fresh).version == version


def test_amend_shows_the_changed_fields_then_writes_the_amend_row(
    harness: Harness, fleet: Fleet, operator: Any
) -> None:
    """A pasted spec with a new description: the preview lists the field with both values;
    applying it writes the amend row with the changed path and the console user."""
    spec = harness.store.get(fleet.fresh).spec
    changed = json.loads(json.dumps(spec))
    changed["profile"]["description"] = "A corrected description"
    text = json.dumps(changed)
    path = f"/onboardings/{fleet.fresh}/amend"
    preview = operator.post(path, data={"spec": text, "reason": "typo", "csrf": csrf_of(operator)})
    assert preview.status_code == 200
    assert "profile.description" in preview.text
    assert "A corrected description" in preview.text
    applied = operator.post(
        f"{path}/apply", data={"spec": text, "reason": "typo", "csrf": csrf_of(operator)},
        follow_redirects=False,
    )  # fmt: skip
    assert applied.status_code == 303
    row = _row(harness, fleet.fresh)
    assert (row["trigger"], row["actor"], row["reason"]) == ("amend", "olga", "typo")
    assert row["details"]["changed"] == ["profile.description"]
    broken = operator.post(path, data={"spec": "{", "reason": "x", "csrf": csrf_of(operator)})
    assert broken.status_code == 400


def test_list_filters_stay_in_the_url_and_pages_follow_the_cursor(
    fleet: Fleet, operator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """State, code and key prefix filter on the server; a page of 2 links to the next with
    the same filters; a malformed filter is one sentence naming it."""
    monkeypatch.setattr(pages, "PAGE_ROWS", 2)
    first = operator.get(
        "/onboardings?state=needs_attention&code=COMPLETION_TIMEOUT&key_prefix=late-"
    )
    keys = re.findall(r">(late-\d|unmet-0|fresh-0)</a>", first.text)
    assert len(keys) == 2
    more = re.search(r'rel="next" href="/onboardings\?([^"]+)"', first.text)
    assert more is not None
    link = more.group(1).replace("&amp;", "&")
    assert "state=needs_attention" in link
    assert "code=COMPLETION_TIMEOUT" in link
    second = operator.get(f"/onboardings?{link}")
    rest = re.findall(r">(late-\d|unmet-0|fresh-0)</a>", second.text)
    assert sorted(keys + rest) == ["late-0", "late-1", "late-2"]
    assert 'rel="next"' not in second.text
    bad = operator.get("/onboardings?older_than=soon")
    assert bad.status_code == 400
    assert "--older-than &#39;soon&#39; is not a duration" in bad.text


def test_search_finds_by_key_ids_idempotency_key_and_request_id(
    harness: Harness, fleet: Fleet, operator: Any
) -> None:
    """Each exact identifier leads to the onboarding's page."""
    target = harness.store.get(fleet.timeouts[0])
    attempt = next(a for a in harness.store.attempts(target.id) if a.request_id)
    for searched in (
        target.key,
        target.id,
        target.profile_id,
        attempt.idempotency_key,
        attempt.request_id,
    ):
        assert searched is not None
        reply = operator.get("/search", params={"q": searched}, follow_redirects=False)
        assert reply.status_code == 303, searched
        assert reply.headers["location"] == f"/onboardings/{target.id}"
    assert "Nothing matches" in operator.get("/search", params={"q": "late-"}).text


def test_the_overview_counts_states_and_causes_and_the_page_highlights_the_current_state(
    fleet: Fleet, operator: Any
) -> None:
    """Four paused (3 COMPLETION_TIMEOUT, 1 PREREQUISITES), one pending; the diagram marks
    needs_attention current and the states it went through visited."""
    overview = re.sub(r"\s+", " ", operator.get("/").text)
    assert 'state=needs_attention">needs_attention</a></td><td class="n">4<' in overview
    assert '<td>paused</td><td>COMPLETION_TIMEOUT</td><td class="n">3<' in overview
    assert '<td>paused</td><td>PREREQUISITES</td><td class="n">1<' in overview
    page = operator.get(f"/onboardings/{fleet.timeouts[0]}").text
    assert '<g id="state-needs_attention" class="state current"' in page
    assert '<g id="state-complete" class="state visited"' in page
    assert '<g id="state-submitted" class="state terminal"' in page


def test_a_bulk_run_lists_what_changed_meanwhile_as_skipped(
    harness: Harness, fleet: Fleet, operator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another operator cancels one selected onboarding after the selection, before the batch
    reaches it: the batch page lists it as skipped with why, and changes the other two."""
    ops = operator.app.state.console.ops
    selected_then_cancelled = fleet.timeouts[1]
    original = type(ops).bulk

    def meanwhile(self: Any, *args: Any, confirm: Any, **kwargs: Any) -> Any:
        def confirmed(report: Any) -> bool:
            harness.ops.cancel(selected_then_cancelled, actor="another", reason="meanwhile")
            return bool(confirm(report))

        return original(self, *args, confirm=confirmed, **kwargs)

    monkeypatch.setattr(type(ops), "bulk", meanwhile)
    form = {
        "csrf": csrf_of(operator), "action": "resume", "state": "needs_attention",
        "code": "COMPLETION_TIMEOUT", "reason": "callbacks were lost", "confirm_count": "3",
    }  # fmt: skip
    ran = operator.post("/bulk", data=form, follow_redirects=False)
    batch_id = ran.headers["location"].rsplit("/", 1)[1]
    _wait_for_batch(batch_id)
    page = operator.get(f"/batches/{batch_id}").text
    assert "Changed: 2. Skipped: 1." in page
    assert "<td>late-1</td>" in page
    assert "no longer matches" in page or "cancelled" in page
    assert harness.store.get(selected_then_cancelled).state == "cancelled"


def test_the_stuck_page_gives_each_group_its_fix_and_the_bulk_dry_run_that_applies_it(
    fleet: Fleet, operator: Any
) -> None:
    """COMPLETION_TIMEOUT: resume them all (a link to the dry run); PREREQUISITES: amend each
    (the command, no bulk link)."""
    page = operator.get("/stuck").text
    groups = re.split(r'<section class="group">', page)[1:]
    timeout = next(g for g in groups if "COMPLETION_TIMEOUT: 3" in g)
    unmet = next(g for g in groups if "PREREQUISITES: 1" in g)
    assert (
        'href="/bulk?action=resume&amp;state=needs_attention&amp;code=COMPLETION_TIMEOUT"'
        in timeout
    )
    assert "onboarding resume --code COMPLETION_TIMEOUT" in timeout
    assert "/bulk?" not in unmet
    assert "onboarding amend KEY" in unmet
    dry = operator.get("/bulk?action=resume&state=needs_attention&code=COMPLETION_TIMEOUT")
    assert re.search(r'id="dry-count"><strong>3</strong>', dry.text)
