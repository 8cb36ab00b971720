"""Numbers, durations, times and database URLs out of what is supported: one line, no traceback.

Each case names what is supported: a duration up to 3650d, a range for a number option, the
times a date can hold, ``sqlite:///`` and ``postgresql://`` URLs. Refusals made before a command
starts run through the console script's entry point in this process (:func:`main`, as the
installed ``onboarding`` calls it); the issue's own examples, and commands that set up logging,
run as a subprocess.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from persistence.store import SqlStore
from tests.cli_process import environment, one_line_error, run
from workflow.cli import main
from workflow.core.errors import StoreError
from workflow.management.selection import parse_duration

HUGE = "9" * 20
SAMPLES = Path(__file__).resolve().parent.parent / "workflow" / "samples" / "demo.yaml"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database and its key file, so a refusal is never about a missing
    file (nor preceded by the line announcing a new key file)."""
    from cryptography.fernet import Fernet

    folder = tmp_path_factory.mktemp("limits")
    url = f"sqlite:///{folder / 'onboarding.db'}"
    upgraded = run("--db", url, "db", "upgrade", env=environment(), cwd=folder)
    assert upgraded.returncode == 0, upgraded.stderr
    key = folder / "onboarding.db.key"
    key.write_bytes(Fernet.generate_key())
    key.chmod(0o600)
    return url


def _refused_in_process(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> str:
    """Run ``onboarding ARGS`` through :func:`main`; assert one ``error:`` line; return it."""
    for name in list(os.environ):
        if name.startswith(("ONBOARDING_", "SENT_")):
            monkeypatch.delenv(name)
    with pytest.raises(SystemExit) as ended:
        main(args)
    out, err = capsys.readouterr()
    assert ended.value.code not in (0, None), out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["resume", "--older-than", "99999999999d", "--reason", "r", "--dry-run"],
        ["events", "prune", "--older-than", "99999999999d"],
        ["stuck", "--waiting-after", "99999999999999"],
    ],
)
def test_the_reported_tracebacks_are_one_line(
    database: str, tmp_path: Path, args: list[str]
) -> None:
    """The installed command, as reported: exit non-zero, one line, no traceback."""
    line = one_line_error(run("--db", database, *args, env=environment(), cwd=tmp_path))
    assert "3650d" in line or "5256000" in line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["resume", "--older-than", "99999999999d", "--reason", "r", "--dry-run"], "3650d"),
        (["retry", "--older-than", "9" * 400 + "d", "--reason", "r", "--dry-run"], "3650d"),
        (["cancel", "--older-than", "5300w", "--reason", "r", "--dry-run"], "3650d"),
        (["events", "prune", "--older-than", "99999999999d"], "3650d"),
        (["stuck", "--waiting-after", "99999999999999"], "0<=x<=5256000"),
        (["stuck", "--overdue-after", "inf"], "0<=x<=5256000"),
        (["stuck", "--overdue-after", "nan"], "nan is not a number"),
        (["stuck", "--limit", HUGE], "1<=x<=1000000"),
        (["list", "--limit", HUGE], "0<=x<=1000000"),
        (["export", "--since", "9999-12-31T23:59:59-05:00"], "0001-01-01 to 9999-12-31 UTC"),
        (["export", "--until", "0001-01-01T00:00:00+05:00"], "0001-01-01 to 9999-12-31 UTC"),
        (["--api-key", "k", "worker", "--concurrency", HUGE], "1<=x<=1000"),
        (["--api-key", "k", "worker", "--poll-interval", "inf"], "0.01<=x<=3600"),
        (["--api-key", "k", "worker", "--lease-seconds", "nan"], "nan is not a number"),
        (["--api-key", "k", "worker", "--lease-seconds", "1e300"], "1<=x<=86400"),
        (["--api-key", "k", "worker", "--max-seconds", "inf"], "0<=x<=315360000"),
        (
            [
                "events",
                "forward",
                "--url",
                "http://127.0.0.1:9",
                "--secret",
                "whsec_dGVzdA==",
                "--timeout",
                "nan",
            ],
            "nan is not a number",
        ),
        (
            [
                "events",
                "forward",
                "--url",
                "http://127.0.0.1:9",
                "--secret",
                "whsec_dGVzdA==",
                "--poll-interval",
                "1e400",
            ],
            "0.01<=x<=3600",
        ),
        (["sandbox", "serve", "--latency-ms", "inf"], "0<=x<=600000"),
        (["sandbox", "serve", "--hang-seconds", "nan"], "nan is not a number"),
        (["sandbox", "serve", "--error-rate", "503=nan"], "less than or equal to 1"),
        (["sandbox", "serve", "--hang-rate", "inf"], "less than or equal to 1"),
        (["demo", "--concurrency", HUGE], "1<=x<=1000"),
    ],
)
def test_numbers_out_of_range_are_one_line_naming_the_range(
    database: str,
    args: list[str],
    says: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Huge, infinite and not-a-number values: a usage error naming what is supported."""
    assert says in _refused_in_process(["--db", database, *args], capsys, monkeypatch)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ONBOARDING_POLL_INTERVAL", "soon"),
        ("ONBOARDING_POLL_INTERVAL", "inf"),
        ("ONBOARDING_POLL_INTERVAL", "-5"),
        ("ONBOARDING_COMPLETION_TIMEOUT", "nan"),
        ("ONBOARDING_COMPLETION_TIMEOUT", "1e400"),
    ],
)
def test_engine_numbers_from_the_environment_are_checked(
    database: str, tmp_path: Path, variable: str, value: str
) -> None:
    """A worker given a bad number of seconds in the environment names the variable and its
    range in one line."""
    result = run(
        "--db", database, "--api-key", "k", "worker", "--until-idle",
        env=environment(**{variable: value}), cwd=tmp_path,
    )  # fmt: skip
    line = one_line_error(result)
    assert variable in line
    assert "must be a number of seconds from" in line


MYSQL = "mysql://user:pw@db.example/onboarding"


@pytest.mark.parametrize(
    ("url", "args"),
    [
        (MYSQL, ["db", "upgrade"]),
        (MYSQL, ["db", "current"]),
        (MYSQL, ["--api-key", "k", "worker", "--until-idle"]),
        (MYSQL, ["start", str(SAMPLES)]),
        (MYSQL, ["list"]),
        (MYSQL, ["resume", "some-key", "--reason", "r"]),
        (MYSQL, ["events", "subscribers"]),
        (MYSQL, ["audit", "verify"]),
        ("postgresql+psycopg2://u:pw@h/n", ["db", "upgrade"]),
        ("postgresql+psycopg2://u:pw@h/n", ["list"]),
        ("oracle://u:pw@h/n", ["--api-key", "k", "worker", "--until-idle"]),
        ("oracle://u:pw@h/n", ["stuck"]),
    ],
)
def test_an_unsupported_database_url_is_one_line_naming_what_is_supported(
    tmp_path: Path,
    url: str,
    args: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every path that opens a database (engine, read path, start's key check) refuses another
    database or driver by naming sqlite:/// and postgresql://, the password masked."""
    if "worker" in args:  # it sets up logging: in a process of its own
        line = one_line_error(run("--db", url, *args, env=environment(), cwd=tmp_path))
    else:
        monkeypatch.chdir(tmp_path)
        line = _refused_in_process(["--db", url, *args], capsys, monkeypatch)
    assert "is not a supported database URL" in line
    assert "sqlite:///" in line
    assert "postgresql://" in line
    assert "PostgreSQL database" not in line
    assert "pw" not in line


def test_supported_urls_pass_and_others_are_refused_for_library_callers() -> None:
    """The engine's own check: SQLite and psycopg URLs (``postgres://`` means psycopg too);
    SqlStore.from_url refuses MySQL before SQLAlchemy looks for its driver."""
    from persistence.db import check_supported, database_url

    for url in ("sqlite:///a.db", "sqlite://", "sqlite+pysqlite:///a.db", "postgresql://u@h/n"):
        assert check_supported(url) == database_url(url)
    assert database_url("postgres://u@h/n") == "postgresql+psycopg://u@h/n"
    assert check_supported("postgres://u@h/n") == "postgresql+psycopg://u@h/n"
    for url in ("mysql://h/n", "sqlite+foo:///a.db", "nonsense", "mssql+pyodbc://h/n"):
        with pytest.raises(StoreError, match="not a supported database URL"):
            check_supported(url)
    with pytest.raises(StoreError, match="sqlite:///PATH"):
        SqlStore.from_url("mysql+pymysql://u:secret@h/n")


def test_durations_are_bounded_at_ten_years() -> None:
    """3650d is the longest age; longer, or a number too long for a float, is refused."""
    from datetime import timedelta

    assert parse_duration("3650d") == timedelta(days=3650)
    assert parse_duration("2w").days == 14
    assert parse_duration("0s", allow_zero=True).total_seconds() == 0
    for text in ("3651d", "99999999999d", "9" * 400 + "s", "0d"):
        with pytest.raises(Exception, match=r"3650d|not a duration"):
            parse_duration(text)


@pytest.mark.parametrize(
    "position",
    [
        ["9999-12-31T23:59:59-05:00", "0" * 32],
        ["2026-01-01T00:00:00+00:00", "\ud800"],
        ["2026-01-01T00:00:00+00:00", "a\x00b"],
        ["2026-01-01T00:00:00+00:00", "a" * 65],
    ],
)
def test_a_crafted_list_cursor_is_one_line(
    database: str,
    position: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cursor no 'list' printed (a time past 9999, an id no database takes) is refused as
    not a cursor, in one line."""
    import base64
    import json

    raw = json.dumps(position).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    line = _refused_in_process(["--db", database, "list", "--after", cursor], capsys, monkeypatch)
    assert "is not a cursor printed by 'onboarding list'" in line
