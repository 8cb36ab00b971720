"""Shared fixtures: dates, sample specs and database URLs."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import os
import random
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from persistence.db import make_engine
from persistence.migrate import upgrade
from persistence.store import SqlStore
from workflow.adapters.sent_client import HttpxSentApi
from workflow.adapters.vault import FernetVault
from workflow.core.backoff import RetryPolicy
from workflow.core.clock import FakeClock
from workflow.core.spec import OrganizationFacts, load_documents, parse_spec
from workflow.engine.callbacks import create_callback_app
from workflow.engine.executor import EngineConfig, Executor
from workflow.engine.runner import Worker, drive_until_idle
from workflow.management.onboardings import Onboardings
from workflow.ports import Change, CheckpointUpdate
from workflow.sandbox import OrganizationConfig, Sandbox, ServerThread

SAMPLES = Path(__file__).resolve().parent.parent / "workflow" / "samples" / "demo.yaml"
CARD_NUMBER = "4111111111111111"
CVC = "737"
WHATSAPP_TOKEN = "EAAtesttoken9876543210secret"
#: The secret key of every test database (sealing and audit anchors): the key file beside a
#: SQLite file holds it, and in-process commands on PostgreSQL get it from the environment.
#: Commands run by the tests pace nothing at Sent (the worker's default paces /complete at 10 a
#: minute); the tests of pacing configure it themselves.
os.environ.setdefault("ONBOARDING_RATE_LIMITS", "complete=0")
TEST_KEY = b"dGVzdC1rZXktMzItYnl0ZXMtZm9yLWFuY2hvcnMhISE="
TEST_VAULT = FernetVault(TEST_KEY)


@pytest.fixture
def today() -> date:
    """A fixed 'today' so card expiry checks never depend on the calendar."""
    return date(2026, 5, 1)


@pytest.fixture
def samples() -> dict[str, dict[str, Any]]:
    """The demo's sample specs by key, fresh copies for each test."""
    return {doc["key"]: copy.deepcopy(doc) for doc in load_documents(SAMPLES)}  # type: ignore[index]


@pytest.fixture
def secret_spec(samples: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The own-brand TCR sample carrying the test card and WhatsApp token."""
    spec = samples["demo-own-brand-tcr"]
    spec["key"] = "secret-spec"
    spec["profile"]["payment_details"] = {
        "card_number": CARD_NUMBER, "expiry": "09/39", "cvc": CVC, "zip_code": "10001",
    }  # fmt: skip
    spec["profile"]["whatsapp_business_account"]["access_token"] = WHATSAPP_TOKEN
    return spec


def postgres_required() -> bool:
    """Whether a missing or unreachable PostgreSQL fails its tests instead of skipping them:
    on CI (``CI=true``) or when ``ONBOARDING_TEST_REQUIRE_POSTGRES=1``."""
    return (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("ONBOARDING_TEST_REQUIRE_POSTGRES") == "1"
    )


def postgres_or_skip() -> str:
    """The PostgreSQL URL under test; without a reachable server the test is skipped, or failed
    where PostgreSQL is required (:func:`postgres_required`)."""
    problem = None
    url = None
    if not os.environ.get("ONBOARDING_TEST_POSTGRES_URL"):
        problem = "ONBOARDING_TEST_POSTGRES_URL is not set"
    else:
        try:
            url = postgres_url()
        except Exception as exc:  # the server is down, refuses us, or the URL is wrong
            problem = f"PostgreSQL at ONBOARDING_TEST_POSTGRES_URL is not reachable: {exc}"
    if url is None:
        if postgres_required():
            pytest.fail(f"{problem} (PostgreSQL is required here)", pytrace=False)
        pytest.skip(problem or "no PostgreSQL")
    return url


@functools.cache
def _postgres_url_or_error() -> tuple[str | None, str | None]:
    try:
        return _postgres_url(), None
    except Exception as exc:  # kept, so every test reports it without trying again
        return None, str(exc).splitlines()[0]


def postgres_url() -> str | None:
    """The PostgreSQL URL tests may use (see :func:`_postgres_url`); raises if unreachable."""
    url, error = _postgres_url_or_error()
    if error is not None:
        raise RuntimeError(error)
    return url


def _postgres_url() -> str | None:
    """The PostgreSQL URL tests may use, from ONBOARDING_TEST_POSTGRES_URL.

    Under pytest-xdist each worker gets a database of its own beside the named one
    (``test_gw0`` ...), created when missing, since the tests drop and recreate the tables.
    """
    base = os.environ.get("ONBOARDING_TEST_POSTGRES_URL") or None
    if base is None:
        return None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        probe = create_engine(base, connect_args={"connect_timeout": 5})
        with probe.connect():
            pass
        probe.dispose()
        return base
    parsed = make_url(base)
    name = f"{parsed.database}_{worker}"
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    with admin.connect() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if exists is None:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        # A test database need not outlive a crash of its server: commits do not wait for the
        # disk (what each transaction sees and holds is unchanged).
        connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox with the default organization (brand, campaigns, WhatsApp account)."""
    box = Sandbox()
    yield box
    box.close()


class Switch:
    """An ASGI app that hands each request to the app of the test running now.

    One uvicorn server per session (per xdist worker) serves every test's sandbox, and another
    every test's callback receiver: starting and stopping two servers for each test took about
    as long as the tests themselves. Each test still gets a fresh app, so no state is shared;
    between tests the server answers 503.
    """

    def __init__(self) -> None:
        self.target: Any = None
        self._active = 0
        self._idle = threading.Condition()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        target = self.target
        if target is None:
            if scope["type"] == "http":
                await send({"type": "http.response.start", "status": 503, "headers": []})
                await send({"type": "http.response.body", "body": b""})
            return
        with self._idle:
            self._active += 1
        try:
            await target(scope, receive, send)
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    @contextlib.contextmanager
    def serving(self, app: Any) -> Iterator[None]:
        """Serve ``app`` for the length of the block; at its end, wait for the requests it is
        still answering (as a server's graceful shutdown does), so none outlives the test."""
        assert self.target is None, "another test's app is still being served"
        self.target = app
        try:
            yield
        finally:
            self.target = None
            with self._idle:
                self._idle.wait_for(lambda: self._active == 0, timeout=30)


@dataclass
class SharedServer:
    switch: Switch
    url: str


@pytest.fixture(scope="session")
def _sandbox_server() -> Iterator[SharedServer]:
    switch = Switch()
    with ServerThread(switch) as server:
        yield SharedServer(switch, server.url)


@pytest.fixture(scope="session")
def _receiver_server() -> Iterator[SharedServer]:
    switch = Switch()
    with ServerThread(switch) as server:
        yield SharedServer(switch, server.url)


@pytest.fixture
def sandbox_url(sandbox: Sandbox, _sandbox_server: SharedServer) -> Iterator[str]:
    """The test's sandbox served over real HTTP on loopback (by the session's server)."""
    with _sandbox_server.switch.serving(sandbox.app):
        yield _sandbox_server.url
        sandbox.close()  # a request a hang fault still holds answers now, not at its end


@pytest.fixture
def quick_sent(sandbox: Sandbox, sandbox_url: str) -> str:
    """The test's sandbox over HTTP (the session's server), completing profiles quickly."""
    sandbox.state.organization = OrganizationConfig(completion_delay_seconds=0.1)
    return sandbox_url


@pytest.fixture
def api(sandbox_url: str) -> Iterator[HttpxSentApi]:
    """Our client, pointed at the served sandbox."""
    with HttpxSentApi(sandbox_url, "sandbox-key", timeout=10) as client:
        yield client


def _reset_postgres(url: str) -> None:
    """Drop every table of ours (the database is the CI's shared 'test')."""
    from sqlalchemy import text
    from sqlmodel import SQLModel

    import persistence.models  # noqa: F401

    engine = make_engine(url)
    with engine.begin() as connection:
        SQLModel.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


#: Everything a test could change in the schema (tables, columns, indexes, constraints,
#: triggers and whether they are enabled, functions, the migration stamp) and whether a table
#: was ever analysed (the planner then no longer sees a fresh table), as one digest.
_SCHEMA_DIGEST = """
SELECT md5(string_agg(item, E'\n' ORDER BY item)) FROM (
  SELECT 'r:' || relname || ':' || relkind::text AS item FROM pg_class
   WHERE relnamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'c:' || table_name || '.' || column_name || ':' || data_type || ':' || is_nullable
         || ':' || coalesce(column_default, '') || ':'
         || coalesce(character_maximum_length::text, '')
    FROM information_schema.columns WHERE table_schema = 'public'
  UNION ALL
  SELECT 'i:' || indexdef FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL
  SELECT 'k:' || conname || ':' || pg_get_constraintdef(oid) FROM pg_constraint
   WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT 't:' || tgname || ':' || tgenabled::text || ':' || pg_get_triggerdef(oid) FROM pg_trigger
   WHERE NOT tgisinternal
  UNION ALL
  SELECT 'f:' || proname || ':' || md5(prosrc) FROM pg_proc
   WHERE pronamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'v:' || version_num FROM alembic_version
  UNION ALL  -- analysed since created: the planner no longer sees fresh tables
  SELECT 's:' || count(*)::text FROM pg_stats WHERE schemaname = 'public'
) AS schema_items
"""
#: The tables a test wrote to: a fresh (or truncated) table's file is empty until a row is
#: written, even by a transaction rolled back; a sequence it owns that was ever drawn from counts
#: too (a refused insert draws one without writing a row). TRUNCATE costs a new file per table
#: and index, so the untouched ones are left as they are: already fresh.
_WRITTEN_TABLES = """
SELECT quote_ident(c.relname) FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
   AND c.relname <> 'alembic_version'
   AND (pg_relation_size(c.oid) > 0 OR EXISTS (
     SELECT 1 FROM pg_depend d
       JOIN pg_class q ON q.oid = d.objid AND q.relkind = 'S'
       JOIN pg_sequences s ON s.schemaname = 'public' AND s.sequencename = q.relname
      WHERE d.classid = 'pg_class'::regclass AND d.refobjid = c.oid
        AND d.deptype IN ('a', 'i') AND s.last_value IS NOT NULL))
"""
#: The digest of a freshly migrated schema, per database (one per xdist worker).
_MIGRATED_SCHEMA: dict[str, str] = {}


def _emptied(url: str) -> bool:
    """Empty every table of the PostgreSQL under test, if its schema is still the freshly
    migrated one (a test may have dropped a trigger, stamped an older revision, ...); the
    audit log's guards are bypassed for this one transaction. False: migrate it anew."""
    from sqlalchemy import text

    expected = _MIGRATED_SCHEMA.get(url)
    if expected is None:
        return False
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            if connection.execute(text(_SCHEMA_DIGEST)).scalar() != expected:
                return False
            tables = list(connection.execute(text(_WRITTEN_TABLES)).scalars())
            if not tables:
                return True
            # TRUNCATE, not DELETE: new empty files, as the planner sees a fresh table. CASCADE:
            # a written table may be referenced by one left untouched (onboardings by
            # step_attempts), which PostgreSQL then truncates too (it is empty already).
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        return True
    except Exception:  # no permission to bypass triggers, a table gone, ...: migrate anew
        return False
    finally:
        engine.dispose()


def _fresh_postgres(url: str) -> None:
    """A migrated, empty schema: emptied when a test left the schema as migrated (fast),
    otherwise dropped and migrated again."""
    if _emptied(url):
        return
    from sqlalchemy import text

    _reset_postgres(url)
    engine = make_engine(url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            _MIGRATED_SCHEMA[url] = str(connection.execute(text(_SCHEMA_DIGEST)).scalar())
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The populated database the read commands' tests share (:mod:`tests.populated`)."""
    from tests.populated import populate

    return populate(tmp_path_factory)


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to the head, copied for each test (migrating takes longer)."""
    path = tmp_path_factory.mktemp("template") / "onboarding.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _fresh_sqlite(template: Path, tmp_path: Path) -> str:
    target = tmp_path / "onboarding.db"
    shutil.copyfile(template, target)
    key_file = tmp_path / "onboarding.db.key"
    key_file.write_bytes(TEST_KEY)
    key_file.chmod(0o600)
    return f"sqlite:///{target}"


@pytest.fixture(params=BACKENDS)
def database_url_for_test(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    migrated_sqlite: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """A migrated, empty database: a SQLite file in tmp_path (its key file beside it), or the
    PostgreSQL under test (its key in the environment); either way with :data:`TEST_KEY`."""
    if request.param == "sqlite":
        return _fresh_sqlite(migrated_sqlite, tmp_path)
    else:
        url = postgres_or_skip()
        _fresh_postgres(url)
        monkeypatch.setenv("ONBOARDING_SECRET_KEY", TEST_KEY.decode())
    return url


@pytest.fixture
def store(database_url_for_test: str) -> Iterator[SqlStore]:
    """The store on each backend."""
    sql = SqlStore(make_engine(database_url_for_test))
    yield sql
    sql.engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path, migrated_sqlite: Path) -> Iterator[SqlStore]:
    """The store on a migrated SQLite file (for tests that scan the file)."""
    sql = SqlStore(make_engine(_fresh_sqlite(migrated_sqlite, tmp_path)))
    yield sql
    sql.engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock starting at the sandbox's real 'now', so card expiry checks agree."""
    from datetime import UTC, datetime

    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@dataclass
class Harness:
    """Management + worker + served sandbox + callback receiver, driven on a fake clock."""

    ops: Onboardings
    worker: Worker
    sandbox: Sandbox
    store: SqlStore
    clock: FakeClock
    vault: FernetVault
    api: HttpxSentApi
    receiver_url: str

    @property
    def executor(self) -> Executor:
        return self.worker.executor

    def start(self, raw: dict[str, Any]) -> str:
        return self.ops.start(parse_spec(raw, today=self.clock.now().date()), actor="test").id

    def force(self, onboarding_id: str, **fields: Any) -> None:
        """Set checkpoint fields directly (a test's shortcut past the steps)."""
        row = self.store.get(onboarding_id)
        self.store.apply(
            Change(onboarding_id, row.version, self.clock.now(), CheckpointUpdate(**fields))
        )

    def run(self) -> int:
        return drive_until_idle(self.worker, self.clock)

    def run_until(self, onboarding_id: str, state: str, max_ticks: int = 50) -> None:
        """Tick (without moving the clock) until the onboarding reaches ``state``."""
        for _ in range(max_ticks):
            if self.store.get(onboarding_id).state == state:
                return
            self.worker.tick()
            self.worker.wait_in_flight()
        raise AssertionError(f"{onboarding_id} never reached {state!r}")

    def sent_profiles(self) -> list[dict[str, Any]]:
        return list(self.sandbox.snapshot()["profiles"])

    def slow_completions(self, poll_interval: float = 60) -> None:
        """Sent takes an hour to finish a completion, so onboardings wait in 'complete' until
        the completion timeout; polls come a minute apart: the same timeout, in fewer ticks."""
        self.sandbox.state.organization = OrganizationConfig(completion_delay_seconds=3600)
        self.worker.executor.config = dataclasses.replace(
            self.executor.config, poll_interval=poll_interval
        )


@pytest.fixture
def harness(
    store: SqlStore,
    sandbox: Sandbox,
    sandbox_url: str,
    clock: FakeClock,
    _receiver_server: SharedServer,
) -> Iterator[Harness]:
    """Everything wired, on each database backend."""
    sandbox.state.organization = OrganizationConfig(completion_delay_seconds=0.0)
    vault = TEST_VAULT
    receiver = _receiver_server
    with receiver.switch.serving(create_callback_app(store, vault, clock=clock)):
        api = HttpxSentApi(sandbox_url, "sandbox-key", timeout=1.0)
        config = EngineConfig(
            callback_base_url=receiver.url, poll_interval=2.0, completion_timeout=600,
            retry=RetryPolicy(initial=0.5, cap=10, max_attempts=12, max_elapsed=3600),
            organization=OrganizationFacts(whatsapp_has_phone_number=True),
        )  # fmt: skip
        worker = Worker(
            store, api, vault, config=config, clock=clock, rng=random.Random(1), concurrency=4,
            lease_seconds=60,
        )  # fmt: skip
        ops = Onboardings(store, vault, clock=clock)
        yield Harness(ops, worker, sandbox, store, clock, vault, api, receiver.url)
        worker.close()
        api.close()


@dataclass
class Fleet:
    """Onboardings in known states: three completion timeouts, one unmet prerequisite, one new."""

    timeouts: list[str]
    prerequisites: str
    fresh: str

    @property
    def all(self) -> list[str]:
        return [*self.timeouts, self.prerequisites, self.fresh]


def with_key(raw: dict[str, Any], key: str) -> dict[str, Any]:
    """A copy of a sample spec under another key."""
    spec = copy.deepcopy(raw)
    spec["key"] = key
    return spec


@pytest.fixture
def fleet(harness: Harness, samples: dict[str, Any]) -> Fleet:
    """Paused and pending onboardings, made by the engine against the sandbox. Their
    completions time out after two polls five minutes apart (the timeout is ten minutes)."""
    harness.slow_completions(poll_interval=300)
    timeouts = [harness.start(with_key(samples["demo-inherited"], f"late-{n}")) for n in range(3)]
    prerequisites = harness.start(with_key(samples["demo-prerequisite-pause"], "unmet-0"))
    harness.run()
    fresh = harness.start(with_key(samples["demo-inherited"], "fresh-0"))
    for onboarding in timeouts:
        row = harness.store.get(onboarding)
        assert row.last_error is not None
        assert (row.state, row.last_error["code"]) == ("needs_attention", "COMPLETION_TIMEOUT")
    assert harness.store.get(prerequisites).paused_from == "campaigns"
    return Fleet(timeouts, prerequisites, fresh)
