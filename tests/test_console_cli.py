"""``onboarding console user add|remove|list`` and the console command's refusals, run as an
operator runs them: one line for each mistake, hashes never shown."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from jsonschema import Draft202012Validator

from persistence.console_access import ConsoleAccess
from persistence.store import SqlStore
from tests.cli_process import environment, one_line_error, run
from workflow.console.access import check_password

SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "schema"


def _onboarding(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run("--db", url, "console", *args, input=stdin, env=environment())


def test_users_are_added_listed_and_removed_with_argon2_hashes(sqlite_store: SqlStore) -> None:
    """The password is read from stdin and kept as an argon2id hash; list shows no hash."""
    url = str(sqlite_store.engine.url)
    added = _onboarding(url, "user", "add", "alice", "--role", "operator", "--password-stdin",
                        stdin="a long enough password\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "console user alice added (operator)"
    stored = ConsoleAccess(sqlite_store.engine).user("alice")
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert check_password(stored.password_hash, "a long enough password")
    assert not check_password(stored.password_hash, "another password")
    listed = _onboarding(url, "user", "list")
    assert listed.stdout.startswith("alice  operator  added ")
    assert "argon2" not in listed.stdout
    as_json = _onboarding(url, "user", "list", "--json")
    schema = json.loads((SCHEMAS / "console_user.json").read_text())
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert len(lines) == 1
    Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(
        lines[0]
    )
    assert (lines[0]["name"], lines[0]["role"]) == ("alice", "operator")
    again = _onboarding(url, "user", "add", "alice", "--role", "viewer", "--password-stdin",
                        stdin="a long enough password\n")  # fmt: skip
    assert one_line_error(again) == (
        "error: console user 'alice' exists already: remove it first to change it"
    )
    assert _onboarding(url, "user", "remove", "alice").returncode == 0
    gone = _onboarding(url, "user", "remove", "alice")
    assert "no console user 'alice'" in one_line_error(gone)


def test_a_bad_role_name_or_password_is_one_line_and_adds_nobody(sqlite_store: SqlStore) -> None:
    """Each mistake names the option and the rule; nothing is stored."""
    url = str(sqlite_store.engine.url)
    cases = [
        (["alice", "--role", "root"], "a long enough password", "--role 'root': use one of"),
        (["worker:w1", "--role", "viewer"], "a long enough password", "user name: use 1 to 64"),
        (["alice", "--role", "viewer"], "short", "password: use at least 12 characters"),
    ]
    for args, password, message in cases:
        result = _onboarding(url, "user", "add", *args, "--password-stdin", stdin=password + "\n")
        assert message in one_line_error(result)
    assert ConsoleAccess(sqlite_store.engine).users() == []


def test_the_proxy_mode_is_refused_without_a_trusted_proxy(sqlite_store: SqlStore) -> None:
    """--proxy-user-header alone would believe any client: refused before serving."""
    result = _onboarding(str(sqlite_store.engine.url), "--proxy-user-header", "X-User")
    assert "--proxy-user-header needs --trusted-proxy" in one_line_error(result)
    assert result.returncode == 2
