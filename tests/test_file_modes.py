"""Files holding personal data or the key are private: the SQLite database (and its -wal, -shm
files) and the key file are created 0600; a key file others can read is used with a warning."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from persistence.db import make_engine
from persistence.migrate import upgrade
from tests.cli_process import run
from workflow.adapters.vault import FernetVault


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive usual umask (group and others may read what is created)."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("open_umask")
def test_a_new_sqlite_database_and_its_wal_files_are_private(tmp_path: Path) -> None:
    """Created by the engine, the database file is 0600 before anything is written, and so are
    the -wal and -shm files SQLite makes beside it while it is open."""
    path = tmp_path / "data" / "onboarding.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert _mode(path) == 0o600
        upgrade(engine)
        connection.execute(text("SELECT count(*) FROM onboardings")).scalar()
        for suffix in ("-wal", "-shm"):
            assert _mode(Path(f"{path}{suffix}")) == 0o600, suffix
    engine.dispose()
    assert _mode(path) == 0o600


@pytest.mark.usefixtures("open_umask")
def test_start_creates_the_database_and_its_key_file_private(
    tmp_path: Path, samples: dict[str, Any]
) -> None:
    """'onboarding start' on a new SQLite database: both files readable by their owner only."""
    specs = tmp_path / "specs.yaml"
    specs.write_text(yaml.safe_dump([samples["demo-inherited"]]))
    result = run("--db", f"sqlite:///{tmp_path / 'onboarding.db'}", "start", str(specs))
    assert result.returncode == 0, result.stderr
    assert _mode(tmp_path / "onboarding.db") == 0o600
    assert _mode(tmp_path / "onboarding.db.key") == 0o600


def test_a_key_file_others_can_read_is_used_with_one_warning(
    tmp_path: Path, samples: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A 0644 key file still works, and each command reading it says once, on stderr, that
    others can read it and how to fix it; a 0600 one says nothing."""
    specs = tmp_path / "specs.yaml"
    specs.write_text(yaml.safe_dump([samples["demo-inherited"]]))
    db = f"sqlite:///{tmp_path / 'onboarding.db'}"
    key = tmp_path / "onboarding.db.key"
    assert run("--db", db, "start", str(specs)).returncode == 0
    key.chmod(0o644)
    result = run("--db", db, "cancel", "demo-inherited", "--reason", "r")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"key file {key} can be read by other users (mode 0644): run 'chmod 600 {key}'"
    ]
    with caplog.at_level(logging.WARNING, logger="workflow.secrets"):
        FernetVault.from_key_file(key)
    assert [r.getMessage() for r in caplog.records] == [result.stderr.strip()]
    key.chmod(0o600)
    verified = run("--db", db, "audit", "verify")
    assert (verified.returncode, verified.stderr) == (0, "")
