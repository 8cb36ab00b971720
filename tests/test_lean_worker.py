"""What ``onboarding worker`` never loads on SQLite: SQLAlchemy's PostgreSQL dialect, PyYAML and
``cryptography`` (about 10 MiB of its resident memory), while still running onboardings whose
secrets it opens; and the partial indexes still get their PostgreSQL predicates there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

#: Modules the worker must not load on SQLite (the first word is each one's reason).
NOT_LOADED = ("sqlalchemy.dialects.postgresql", "yaml", "cryptography")

_WORKER = """
import json, sys
from workflow.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "loaded": sorted(m for m in sys.modules if m in NOT_LOADED)}),
      file=sys.stderr)
""".replace("NOT_LOADED", repr(NOT_LOADED))


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)


def test_the_worker_on_sqlite_loads_no_postgresql_yaml_or_cryptography(
    tmp_path: Path, quick_sent: str, secret_spec: dict[str, Any]
) -> None:
    db = f"sqlite:///{tmp_path / 'worker.db'}"
    env = {**os.environ, "ONBOARDING_POLL_INTERVAL": "0.1"}
    common = ["--db", db, "--api-url", quick_sent, "--api-key", "sandbox-key"]
    specs = tmp_path / "specs.json"
    specs.write_text(json.dumps(secret_spec), encoding="utf-8")
    cli = [sys.executable, "-m", "workflow"]
    for args in (["db", "upgrade"], ["start", str(specs)]):
        done = _run([*cli, *common, *args], env)
        assert done.returncode == 0, done.stderr
    worker = ["worker", "--until-idle", "--poll-interval", "0.05"]
    ran = _run([sys.executable, "-c", _WORKER, *common, *worker], env)
    report = json.loads(ran.stderr.strip().splitlines()[-1])
    assert report == {"code": 0, "loaded": []}, ran.stderr
    shown = _run([*cli, *common, "show", "secret-spec", "--json"], env)
    # It got past the step that opens the card and the token, and sent them.
    assert json.loads(shown.stdout)["state"] == "submitted", shown.stdout + shown.stderr


_CREATE_ON_POSTGRESQL = """
import sys
from sqlalchemy import create_mock_engine
from sqlmodel import SQLModel
import persistence.models
assert "sqlalchemy.dialects.postgresql" not in sys.modules, "the models loaded it"
statements = []
engine = create_mock_engine(
    "postgresql+psycopg://", lambda sql, *a, **k: statements.append(str(sql.compile(dialect=engine.dialect)))
)
SQLModel.metadata.create_all(engine, checkfirst=False)
print("\\n".join(" ".join(s.split()) for s in statements if "CREATE INDEX" in s))
"""


def test_create_all_on_postgresql_declares_the_partial_indexes_predicates() -> None:
    made = subprocess.run(
        [sys.executable, "-c", _CREATE_ON_POSTGRESQL],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    indexes = {line.split()[2]: line for line in made.stdout.splitlines()}
    assert indexes["ix_onboardings_unfinished"].endswith("WHERE finished_at IS NULL")
    assert indexes["ix_onboardings_leased"].endswith(
        "WHERE lease_owner IS NOT NULL AND finished_at IS NULL"
    )
    assert indexes["ix_transitions_batch"].endswith("WHERE batch_id IS NOT NULL")
    assert "WHERE" not in indexes["ix_onboardings_created"]
