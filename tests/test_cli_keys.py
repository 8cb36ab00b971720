"""The secret key lives beside its data: every process using a database finds the same key."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet

from tests.cli_process import environment, one_line_error, run
from workflow.adapters.vault import FernetVault, default_key_file
from workflow.core.errors import SecretUnavailableError


def _write(path: Path, *specs: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(list(specs)))
    return path


def test_start_and_worker_in_different_directories_share_the_key(
    tmp_path: Path, quick_sent: str, secret_spec: dict[str, Any]
) -> None:
    """start in one directory, worker in another, same --db: the worker reads the sealed card."""
    here, there, data = tmp_path / "here", tmp_path / "there", tmp_path / "data"
    for directory in (here, there, data):
        directory.mkdir()
    database = data / "onboarding.db"
    env = environment(
        ONBOARDING_POLL_INTERVAL="0.2", ONBOARDING_CALLBACK_BASE_URL="http://127.0.0.1:9"
    )
    common = ["--db", f"sqlite:///{database}", "--api-url", quick_sent, "--api-key", "sandbox-key"]

    started = run(
        *common, "start", str(_write(here / "specs.yaml", secret_spec)), env=env, cwd=here
    )
    assert started.returncode == 0, started.stderr
    key_file = data / "onboarding.db.key"
    assert (
        started.stderr.strip() == f"created secret key file {key_file}: keep it with the database"
    )
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    worked = run(*common, "worker", "--until-idle", "--poll-interval", "0.05", env=env, cwd=there)
    assert worked.returncode == 0, worked.stderr
    assert "created secret key file" not in worked.stderr
    shown = json.loads(run(*common, "show", "secret-spec", "--json", env=env, cwd=there).stdout)
    assert shown["state"] == "submitted", shown["last_error"]
    assert [p.name for p in (*here.iterdir(), *there.iterdir()) if p.suffix == ".key"] == []


def test_old_key_file_in_the_working_directory_is_not_orphaned(
    tmp_path: Path, samples: dict[str, dict[str, Any]]
) -> None:
    """With only the old ./onboarding.key present, start says to move it instead of a new key."""
    (tmp_path / "onboarding.key").write_bytes(Fernet.generate_key())
    specs = _write(tmp_path / "specs.yaml", samples["demo-inherited"])
    line = one_line_error(run("start", str(specs), cwd=tmp_path))
    assert "move it to onboarding.db.key" in line
    assert not (tmp_path / "onboarding.db.key").exists()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url_for_test", ["postgres"], indirect=True)
def test_postgres_start_without_a_key_refuses_every_spec(
    database_url_for_test: str, tmp_path: Path, secret_spec: dict[str, Any],
    samples: dict[str, dict[str, Any]],
) -> None:  # fmt: skip
    """On PostgreSQL, start refuses without a named key (storing nothing), specs with secrets
    or without: the key also anchors the audit rows start writes. So does worker."""
    specs = _write(tmp_path / "specs.yaml", samples["demo-inherited"], secret_spec)
    line = one_line_error(run("--db", database_url_for_test, "start", str(specs), cwd=tmp_path))
    assert "ONBOARDING_SECRET_KEY" in line
    assert "--key-file" in line
    assert run("--db", database_url_for_test, "list", "--json").stdout == ""

    plain = _write(tmp_path / "plain.yaml", samples["demo-inherited"])
    line = one_line_error(run("--db", database_url_for_test, "start", str(plain), cwd=tmp_path))
    assert "anchors the audit log" in line
    assert run("--db", database_url_for_test, "list", "--json").stdout == ""
    assert list(tmp_path.glob("*.key")) == []

    worker = run(
        "--db", database_url_for_test, "--api-url", "http://127.0.0.1:9", "--api-key", "k",
        "worker", "--until-idle", cwd=tmp_path,
    )  # fmt: skip
    assert "ONBOARDING_SECRET_KEY" in one_line_error(worker)

    keyed = environment(ONBOARDING_SECRET_KEY=Fernet.generate_key().decode())
    result = run("--db", database_url_for_test, "start", str(specs), env=keyed, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_default_key_file_sits_beside_sqlite_only() -> None:
    """<database>.key for a SQLite file; nothing for in-memory or server databases."""
    assert default_key_file("sqlite:///data/onboarding.db") == Path("data/onboarding.db.key")
    assert default_key_file("sqlite:////srv/x.db") == Path("/srv/x.db.key")
    assert default_key_file("sqlite://") is None
    assert default_key_file("postgresql://app@db/onboarding") is None


def test_library_vault_follows_the_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """from_environment(db_url=) keys beside SQLite, refuses a keyless server, keeps the old default."""
    monkeypatch.delenv("ONBOARDING_SECRET_KEY", raising=False)
    monkeypatch.delenv("ONBOARDING_SECRET_KEY_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    database = tmp_path / "data" / "onboarding.db"
    database.parent.mkdir()
    sealed = FernetVault.from_environment(db_url=f"sqlite:///{database}").seal({"a": "b"})
    assert (tmp_path / "data" / "onboarding.db.key").exists()
    reopened = FernetVault.from_environment(db_url=f"sqlite:///{database}")
    assert reopened.open("o", sealed) == {"a": "b"}

    with pytest.raises(SecretUnavailableError, match="ONBOARDING_SECRET_KEY"):
        FernetVault.from_environment(db_url="postgresql://app:pw@db/onboarding")

    FernetVault.from_environment()
    assert os.path.exists(tmp_path / "onboarding.key")
