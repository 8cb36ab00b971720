"""Broken surroundings: each failure is one line naming the problem and the fix, no traceback."""

from __future__ import annotations

import json
import resource
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from persistence.db import make_engine
from persistence.migrate import upgrade
from tests.cli_process import environment, file_modes_bind, one_line_error, run
from workflow.cli.demo import SAMPLES
from workflow.sandbox import free_port


def _migrated(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def _specs(tmp_path: Path, samples: dict[str, dict[str, Any]], copies: int = 1) -> Path:
    documents = []
    for index in range(copies):
        for key, raw in samples.items():
            spec = json.loads(json.dumps(raw))
            spec["key"] = f"{key}-{index}"
            documents.append(spec)
    path = tmp_path / "specs.yaml"
    path.write_text(yaml.safe_dump(documents))
    return path


@pytest.fixture
def read_only_db(tmp_path: Path) -> Iterator[str]:
    """A migrated SQLite file with mode 0444 (binding even for root, see file_modes_bind)."""
    path = tmp_path / "onboarding.db"
    url = _migrated(path)
    path.chmod(0o444)
    yield url
    path.chmod(0o644)


def test_wrong_postgres_port_is_one_line_naming_the_database() -> None:
    """Connection refused: one line with the URL (password masked) and where to fix it."""
    url = f"postgresql://app:hunter2@127.0.0.1:{free_port()}/onboarding"
    line = one_line_error(run("--db", url, "list"))
    assert "cannot connect to the database" in line
    assert "Connection refused" in line
    assert "--db" in line
    assert "hunter2" not in line


def test_debug_shows_the_traceback() -> None:
    """--debug trades the one-line message for the full traceback."""
    url = f"postgresql://app@127.0.0.1:{free_port()}/onboarding"
    result = run("--debug", "--db", url, "list")
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "OperationalError" in result.stderr


def test_read_only_sqlite_file_refuses_start_without_leaking_spec_data(
    read_only_db: str, tmp_path: Path, samples: dict[str, dict[str, Any]]
) -> None:
    """'start' on a read-only file says so in one line; the failed INSERT's values stay hidden."""
    specs = _specs(tmp_path, samples)
    result = run("--db", read_only_db, "start", str(specs), preexec_fn=file_modes_bind())
    line = one_line_error(result)
    assert "read-only" in line
    assert "--db" in line
    raw = samples["demo-own-brand-tcr"]["profile"]
    for value in (raw["name"], raw["description"], "INSERT", "parameters"):
        assert value not in result.stderr


def test_read_only_sqlite_file_refuses_the_worker(read_only_db: str) -> None:
    """The worker checks the database accepts writes before it starts, and says why not."""
    result = run(
        "--db", read_only_db, "--api-url", "http://127.0.0.1:9", "--api-key", "k",
        "worker", "--until-idle", preexec_fn=file_modes_bind(),
    )  # fmt: skip
    line = one_line_error(result)
    assert "read-only" in line


@pytest.mark.parametrize("relative", ["onboarding.db", "sub/onboarding.db"])
def test_unwritable_sqlite_location_is_one_line(tmp_path: Path, relative: str) -> None:
    """A database in a directory this user cannot write: one line naming the path."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        url = f"sqlite:///{locked / relative}"
        line = one_line_error(run("--db", url, "db", "upgrade", preexec_fn=file_modes_bind()))
    finally:
        locked.chmod(0o755)
    assert str(locked) in line
    assert "permission" in line.lower() or "writable" in line


def test_full_disk_under_sqlite_is_one_line(
    tmp_path: Path, samples: dict[str, dict[str, Any]]
) -> None:
    """Writes failing for lack of space (a file size limit stands in for a full disk): one line."""
    url = _migrated(tmp_path / "onboarding.db")
    specs = _specs(tmp_path, samples, copies=100)
    limit = (tmp_path / "onboarding.db").stat().st_size + 64 * 1024

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    keyed = environment(ONBOARDING_SECRET_KEY="x" * 43 + "=")
    result = run("--db", url, "start", str(specs), env=keyed, preexec_fn=small_disk)
    line = one_line_error(result)
    assert "disk may be full" in line
    assert "--db" in line


def test_callback_port_in_use_is_one_line(tmp_path: Path) -> None:
    """--serve-callbacks on a taken port names the port and the option to change."""
    url = _migrated(tmp_path / "onboarding.db")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(
            "--db", url, "--api-url", "http://127.0.0.1:9", "--api-key", "k", "worker",
            "--serve-callbacks", "--callback-port", str(port), "--until-idle",
            env=environment(ONBOARDING_SECRET_KEY="x" * 43 + "="),
        )  # fmt: skip
    line = one_line_error(result)
    assert f"callback port {port}" in line
    assert "--callback-port" in line


def test_zero_concurrency_is_refused(tmp_path: Path) -> None:
    """--concurrency 0 is a usage error naming the option, exit 2."""
    result = run("worker", "--concurrency", "0", cwd=tmp_path)
    line = one_line_error(result)
    assert result.returncode == 2
    assert "--concurrency" in line
    assert "onboarding worker --help" in line


@pytest.mark.parametrize("command", ["list", "stuck"])
def test_unknown_state_names_the_valid_states(tmp_path: Path, command: str) -> None:
    """--state with a typo lists every valid state."""
    url = _migrated(tmp_path / "onboarding.db")
    line = one_line_error(run("--db", url, command, "--state", "paused"))
    assert "'paused'" in line
    assert "needs_attention" in line
    assert "pending" in line


@pytest.mark.parametrize("reason", ["", "   "])
def test_blank_reason_is_refused(tmp_path: Path, reason: str) -> None:
    """An operator action without a reason is refused before anything changes."""
    url = _migrated(tmp_path / "onboarding.db")
    line = one_line_error(run("--db", url, "cancel", "any", "--reason", reason))
    assert "--reason" in line
    assert "empty" in line


def test_overlong_actor_is_refused(tmp_path: Path) -> None:
    """An --actor longer than the audit log keeps (128) is refused, naming the limit."""
    url = _migrated(tmp_path / "onboarding.db")
    line = one_line_error(run("--db", url, "cancel", "any", "--reason", "r", "--actor", "a" * 129))
    assert "--actor" in line
    assert "128" in line


@pytest.mark.parametrize(("actor", "says"), [("a" * 129, "128"), ("", "empty"), ("  ", "empty")])
def test_start_checks_its_actor_as_operator_actions_do(
    tmp_path: Path, actor: str, says: str
) -> None:
    """`start --actor` is refused when empty or longer than the audit log keeps; nothing is
    stored."""
    url = _migrated(tmp_path / "onboarding.db")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SAMPLES.read_text())
    line = one_line_error(run("--db", url, "start", str(spec), "--actor", actor))
    assert "--actor" in line
    assert says in line
    assert run("--db", url, "list", "--json").stdout == ""


def _set_revision(path: Path, revision: str) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    connection.close()


def test_newer_schema_says_so_and_does_not_advise_upgrade(tmp_path: Path) -> None:
    """A schema migrated by newer code: 'list' and 'db upgrade' both refuse, without 'db upgrade'."""
    path = tmp_path / "onboarding.db"
    url = _migrated(path)
    _set_revision(path, "0999")
    for args in (["list"], ["db", "upgrade"]):
        line = one_line_error(run("--db", url, *args))
        assert "newer" in line
        assert "0999" in line
        assert "db upgrade" not in line


def test_unknown_schema_revision_says_so(tmp_path: Path) -> None:
    """A revision that is not one of ours: named as unknown, no upgrade advice."""
    path = tmp_path / "onboarding.db"
    url = _migrated(path)
    _set_revision(path, "a1b2c3")
    line = one_line_error(run("--db", url, "show", "x"))
    assert "'a1b2c3'" in line
    assert "not one of this code's migrations" in line
    assert "db upgrade" not in line


@pytest.mark.parametrize(
    "command", [["show", "x"], ["list"], ["history", "x"], ["export"], ["stuck"]]
)
def test_read_only_commands_do_not_create_a_missing_database(
    tmp_path: Path, command: list[str]
) -> None:
    """A read-only command on a missing SQLite file says so and creates nothing."""
    path = tmp_path / "nowhere" / "onboarding.db"
    line = one_line_error(run("--db", f"sqlite:///{path}", *command))
    assert f"{path} does not exist" in line
    assert "onboarding db upgrade" in line
    assert not path.parent.exists()


def test_start_creates_a_missing_database(
    tmp_path: Path, samples: dict[str, dict[str, Any]]
) -> None:
    """'start' on a missing SQLite file creates it with its schema, as the message above says."""
    url = f"sqlite:///{tmp_path / 'new' / 'onboarding.db'}"
    result = run("--db", url, "start", str(_specs(tmp_path, samples)))
    assert result.returncode == 0, result.stderr
    listed = run("--db", url, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == len(samples)


@pytest.mark.parametrize("source", ["variable", "file"])
def test_malformed_secret_key_is_one_line(
    tmp_path: Path, samples: dict[str, dict[str, Any]], source: str
) -> None:
    """A key that is not a Fernet key is named (variable or file) without echoing it."""
    url = _migrated(tmp_path / "onboarding.db")
    if source == "variable":
        env = environment(ONBOARDING_SECRET_KEY="not-a-key-4242")
    else:
        (tmp_path / "onboarding.db.key").write_text("not-a-key-4242")
        env = environment()
    line = one_line_error(run("--db", url, "start", str(_specs(tmp_path, samples)), env=env))
    assert ("ONBOARDING_SECRET_KEY" if source == "variable" else "onboarding.db.key") in line
    assert "not-a-key-4242" not in line


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--port", "99999"], "--port"),
        (["--error-rate", "999=1"], "999 is not an error status"),
        (["--error-rate", "503=2"], "less than or equal to 1"),
        (["--error-rate", "503=-1"], "greater than or equal to 0"),
        (["--error-rate", "503=0.7", "--error-rate", "500=0.7"], "add up to more than 1"),
        (["--hang-rate", "1.5"], "less than or equal to 1"),
    ],
)
def test_sandbox_serve_refuses_bad_options_in_one_line(options: list[str], says: str) -> None:
    """Options the sandbox cannot honour are refused before it serves anything."""
    result = run("sandbox", "serve", *options, timeout=30, process=True)  # a server: its own
    line = one_line_error(result)
    assert says in line
    assert "Sent sandbox on" not in result.stdout


def test_sandbox_serve_on_a_taken_port_says_so_and_nothing_else() -> None:
    """A taken port is one line naming it; no 'Sent sandbox on …' line claims otherwise."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("sandbox", "serve", "--port", str(port), timeout=30, process=True)
    assert f"sandbox port {port} on 127.0.0.1 is already in use" in one_line_error(result)
    assert "--port" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["validate", "start"])
def test_a_file_with_no_spec_is_an_error(tmp_path: Path, command: str) -> None:
    """An empty list is not 'everything valid': the file is named and the exit status is 1."""
    empty = tmp_path / "empty.yaml"
    empty.write_text("[]\n")
    result = run("--db", f"sqlite:///{tmp_path / 'o.db'}", command, str(empty), cwd=tmp_path)
    assert result.returncode == 1
    assert "it holds no spec" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_worker_without_an_api_key_names_the_option(tmp_path: Path) -> None:
    """No key anywhere: one line naming --api-key, SENT_DM_API_KEY and the sandbox; nothing is
    created."""
    result = run("--db", f"sqlite:///{tmp_path / 'o.db'}", "worker", "--until-idle", cwd=tmp_path)
    line = one_line_error(result)
    assert "--api-key" in line
    assert "SENT_DM_API_KEY" in line
    assert "sandbox serve" in line
    assert list(tmp_path.iterdir()) == []


def test_a_global_option_after_the_command_says_where_it_goes(tmp_path: Path) -> None:
    """'onboarding list --db URL' is a usage error that says --db goes before the command."""
    result = run("list", "--db", f"sqlite:///{tmp_path / 'o.db'}", cwd=tmp_path)
    line = one_line_error(result)
    assert result.returncode == 2
    assert "--db is a global option: put it before the command" in line
    assert "'onboarding --db … list …'" in line
