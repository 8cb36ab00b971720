"""A database the read commands' tests share (the JSON schemas, the 80-column output): the
samples run by a real worker, then changed by an operator. conftest.py's session-scoped
``database`` fixture builds it, once per xdist worker for every module that reads it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet

import workflow
from persistence.store import SqlStore
from tests.cli_process import environment, run
from workflow.core.spec import load_documents
from workflow.sandbox import FaultConfig, OrganizationConfig, Sandbox, ScriptedFault, ServerThread

__all__ = ["Database", "populate", "sample_run"]

SAMPLES = Path(workflow.__file__).resolve().parent / "samples" / "demo.yaml"


@dataclass
class Database:
    """A database after a worker run: every sample path, one paused by a 400, one cancelled,
    one started after the run (so overdue with no live worker)."""

    url: str
    env: dict[str, str]

    def lines(self, *args: str) -> list[dict[str, Any]]:
        result = run("--db", self.url, *args, env=self.env)
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]


def sample_run() -> tuple[Sandbox, dict[str, str]]:
    """The Sent and the environment a run of every sample uses: 'demo-main-country' gets a
    non-retryable 400 from Sent, completions take 0.1 s, a fresh key."""
    faults = FaultConfig(
        scripted=[ScriptedFault(method="POST", body_contains="Marketing EU", status=400)]
    )
    box = Sandbox(OrganizationConfig(completion_delay_seconds=0.1), faults)
    env = environment(
        ONBOARDING_SECRET_KEY=Fernet.generate_key().decode(), ONBOARDING_POLL_INTERVAL="0.2",
        ONBOARDING_CALLBACK_BASE_URL="http://127.0.0.1:9",
    )  # fmt: skip
    return box, env


def populate(tmp_path_factory: pytest.TempPathFactory) -> Database:
    """The samples run once by 'onboarding worker --until-idle', then changed by an operator
    (the tests only read it)."""
    directory = tmp_path_factory.mktemp("schema")
    samples = {doc["key"]: doc for doc in load_documents(SAMPLES)}  # type: ignore[index]
    box, env = sample_run()
    url = f"sqlite:///{directory / 'onboarding.db'}"
    specs = directory / "specs.yaml"
    specs.write_text(yaml.safe_dump(list(samples.values())))
    late = directory / "late.yaml"
    late.write_text(yaml.safe_dump([{**samples["demo-inherited"], "key": "late"}]))
    with ServerThread(box.app) as sent:
        api = ["--api-url", sent.url, "--api-key", "sandbox-key"]
        for args in (
            ["db", "upgrade"], ["start", str(specs)],
            [*api, "worker", "--until-idle", "--poll-interval", "0.05"],
            ["cancel", "--key-prefix", "demo-main-country", "--reason", "wrong country",
             "--actor", "alice", "--yes"],
            ["start", str(late)],
        ):  # fmt: skip
            result = run("--db", url, *args, env=env)
            assert result.returncode == 0, result.stderr
    box.close()
    store = SqlStore.from_url(url)  # a subscriber that has read nothing yet
    store.read_events("audit-feed", 1, datetime.now(UTC))
    store.engine.dispose()
    return Database(url, env)
