"""A service embedding the worker, run as a process: Ctrl-C and exceptions end it cleanly.

Each test writes the README's blocks (or the older ``threading.Thread(target=worker.run)``
pattern) into a script, runs it with the sandbox over HTTP on each database, and acts on it
once a condition is seen in the database or on its output, never after a fixed time. "Within a
bound" is ``communicate(timeout=...)``: a process that hangs fails the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from persistence import make_engine
from tests.cli_process import environment
from tests.conftest import TEST_VAULT
from tests.test_readme import embedding_blocks
from workflow import Onboardings, parse_spec
from workflow.sandbox import FaultConfig, OrganizationConfig, Sandbox

#: Seconds a process gets to end after it was told to: far above what it needs.
BOUND = 60
PRELUDE = """\
import json
import logging
import os

logging.basicConfig(level=logging.INFO)
request_json = json.loads(os.environ["REQUEST_JSON"])
"""
SETUP = """\
from persistence import SqlStore
from workflow import EngineConfig, FernetVault, HttpxSentApi, Worker

url = os.environ["ONBOARDING_DATABASE_URL"]
vault = FernetVault.from_environment(db_url=url)
config = EngineConfig(callback_base_url="http://127.0.0.1:9")
"""
#: Tracebacks the interpreter's own shutdown used to print.
SHUTDOWN_ERRORS = ("cannot schedule new futures", "can't register atexit", "RuntimeError")


def eventually(condition: Callable[[], bool], timeout: float = BOUND) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


class Service:
    """A script running in a subprocess; its output read as it comes."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            # faulthandler: a service that hangs shows every thread's stack when aborted.
            [sys.executable, "-X", "faulthandler", "-u", str(path)], env=env, cwd=path.parent,
            text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.output: list[str] = []
        self.errors: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in (
                (self.process.stdout, self.output),
                (self.process.stderr, self.errors),
            )
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    def stderr(self) -> str:
        return "".join(self.errors)

    def finish(self) -> tuple[int, str, str]:
        """Wait (within the bound) for the exit; returns status, stdout and stderr."""
        try:
            status = self.process.wait(timeout=BOUND)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)  # faulthandler writes where it hangs
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
            self.kill()
            pytest.fail(f"the service did not exit within {BOUND}s:\n{self.stderr()}")
        self._close()
        return status, "".join(self.output), self.stderr()

    def _close(self) -> None:
        for reader in self._readers:
            reader.join(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close()


@pytest.fixture
def service(
    tmp_path: Path,
    database_url_for_test: str,
    sandbox: Sandbox,
    sandbox_url: str,
    samples: dict[str, Any],
) -> Iterator[Callable[..., Service]]:
    """Run a script against the database under test and the sandbox."""
    sandbox.state.organization = OrganizationConfig(completion_delay_seconds=0.0)
    started: list[Service] = []
    env = environment(
        ONBOARDING_DATABASE_URL=database_url_for_test, SENT_BASE_URL=sandbox_url,
        SENT_DM_API_KEY="sandbox-key", REQUEST_JSON=json.dumps(samples["demo-inherited"]),
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
    )  # fmt: skip
    if "ONBOARDING_SECRET_KEY" in os.environ:  # PostgreSQL: the key the fixture set
        env["ONBOARDING_SECRET_KEY"] = os.environ["ONBOARDING_SECRET_KEY"]

    def run(source: str, **overrides: str) -> Service:
        path = tmp_path / "service.py"
        path.write_text(source, encoding="utf-8")
        started.append(Service(path, {**env, **overrides}))
        return started[-1]

    yield run
    for each in started:
        each.kill()


def workers(url: str) -> tuple[int, int]:
    """Workers that wrote their row, and those of them that have not marked it stopped."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT stopped_at FROM workers")).all()
    finally:
        engine.dispose()
    return len(rows), sum(1 for row in rows if row.stopped_at is None)


def live_workers(url: str) -> int:
    """Workers that wrote their row and have not marked it stopped."""
    return workers(url)[1]


def test_ctrl_c_stops_the_readme_service_without_a_traceback(
    service: Callable[..., Service], database_url_for_test: str
) -> None:
    """The README's service, then its worker process (``run()``): one Ctrl-C once the worker
    runs drains it and the process exits 0 with no traceback."""
    first, worker_process, _ = embedding_blocks()
    running = service(PRELUDE + first + worker_process)
    # The service's worker stopped, the worker process's own one runs.
    eventually(lambda: workers(database_url_for_test) == (2, 1))
    running.process.send_signal(signal.SIGINT)
    status, out, err = running.finish()
    assert status == 0, err
    assert out.split()[0] == "completed"
    assert "Traceback" not in err, err
    assert "signal 2: finishing in-flight steps" in err
    assert live_workers(database_url_for_test) == 0  # both marked stopped


def test_a_second_ctrl_c_while_a_step_is_in_flight_exits_at_once(
    service: Callable[..., Service],
    database_url_for_test: str,
    sandbox: Sandbox,
    samples: dict[str, Any],
) -> None:
    """With a call to Sent hanging, the first Ctrl-C starts draining; the second ends the
    process at once with status 130, without a traceback."""
    sandbox.faults.configure(FaultConfig(hang_rate=1.0, hang_seconds=15))
    engine = make_engine(database_url_for_test)
    from persistence import SqlStore

    store = SqlStore(engine)
    row = Onboardings(store, TEST_VAULT).start(
        parse_spec(samples["demo-inherited"], today=time_today())
    )
    _, worker_process, _ = embedding_blocks()
    running = service(PRELUDE + SETUP + worker_process)
    eventually(lambda: store.find(row.id).lease_owner is not None)  # its create is on the wire
    running.process.send_signal(signal.SIGINT)
    eventually(lambda: "signal 2: finishing in-flight steps" in running.stderr())
    running.process.send_signal(signal.SIGINT)
    status, _, err = running.finish()
    engine.dispose()
    assert status == 130, err
    assert "Traceback" not in err, err


def test_an_exception_in_the_service_ends_the_process(
    service: Callable[..., Service], database_url_for_test: str
) -> None:
    """A spec the service fails to parse after the worker started: the process exits with the
    service's own traceback only, and the worker is marked stopped."""
    first, _, _ = embedding_blocks()
    running = service(PRELUDE + first, REQUEST_JSON='{"key": "x", "profile": {}}')
    status, out, err = running.finish()
    assert status == 1
    assert out == ""
    assert err.count("Traceback") == 1, err
    assert "workflow.core.errors.SpecError: 2 problem(s)" in err
    assert not any(text in err for text in SHUTDOWN_ERRORS), err
    assert live_workers(database_url_for_test) == 0


LEGACY = """\
import threading
import time

store = SqlStore.from_url(url)
api = HttpxSentApi()
worker = Worker(store, api, vault, config=config, poll_interval=0.05)
running = threading.Thread(target=worker.run)
running.start()
if os.environ.get("FAIL"):
    raise ValueError("the service failed")
running.join()
"""


def test_a_worker_run_in_a_thread_does_not_hang_a_failing_service(
    service: Callable[..., Service], database_url_for_test: str
) -> None:
    """``threading.Thread(target=worker.run)`` and then an exception: the worker is stopped at
    interpreter exit, so the process ends, with only the service's traceback."""
    running = service(PRELUDE + SETUP + LEGACY, FAIL="1")
    status, _, err = running.finish()
    assert status == 1
    assert err.count("Traceback") == 1, err
    assert "ValueError: the service failed" in err
    assert not any(text in err for text in SHUTDOWN_ERRORS), err


def test_ctrl_c_ends_a_service_running_the_worker_in_a_thread(
    service: Callable[..., Service], database_url_for_test: str
) -> None:
    """Ctrl-C while the main thread joins the worker's thread: the process ends within the
    bound (the service's KeyboardInterrupt aside, nothing from shutdown is printed)."""
    running = service(PRELUDE + SETUP + LEGACY)
    eventually(lambda: live_workers(database_url_for_test) == 1)
    running.process.send_signal(signal.SIGINT)
    status, _, err = running.finish()
    assert status != 0
    assert err.count("Traceback") == 1, err
    assert "KeyboardInterrupt" in err
    assert not any(text in err for text in SHUTDOWN_ERRORS), err
    assert live_workers(database_url_for_test) == 0


def time_today() -> Any:
    from datetime import date

    return date.today()
