"""Logs: quiet libraries, our lines as text or JSON with the onboarding fields, an idle worker silent."""

from __future__ import annotations

import io
import json
import logging
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from persistence.db import make_engine
from persistence.migrate import upgrade
from tests.cli_process import ONBOARDING, environment
from workflow.following.logs import LIBRARY_LOGGERS, configure_logging
from workflow.sandbox import Sandbox, ServerThread

FIELDS = {
    "onboarding_id": "0f3c9e",
    "key": "acme-sales",
    "profile_id": "prof-1",
    "state": "brand",
    "trigger": "attach_brand",
}


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the logging configuration back as it was after a test reconfigures it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = [*LIBRARY_LOGGERS, "workflow", "persistence"]
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, previous in levels.items():
        logging.getLogger(name).setLevel(previous)


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_carry_the_onboarding_fields() -> None:
    """Each record is one JSON object with time, level, logger, message and the extra fields."""
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    logging.getLogger("workflow.engine").info("advanced to %s", "brand", extra=FIELDS)
    logging.getLogger("workflow.engine").warning("no fields")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first == {
        "time": first["time"], "level": "INFO", "logger": "workflow.engine",
        "message": "advanced to brand", **FIELDS,
    }  # fmt: skip
    assert first["time"].endswith("+00:00")
    assert set(second) == {"time", "level", "logger", "message"}


@pytest.mark.usefixtures("restore_logging")
def test_text_lines_append_the_onboarding_fields() -> None:
    """Text lines end with key=… id=… profile=… state=… trigger=…."""
    stream = io.StringIO()
    configure_logging("INFO", "text", stream=stream)
    logging.getLogger("workflow.engine").info("advanced", extra=FIELDS)
    line = stream.getvalue().strip()
    assert line.endswith(
        "INFO workflow.engine: advanced key=acme-sales id=0f3c9e profile=prof-1 state=brand "
        "trigger=attach_brand"
    )


@pytest.mark.usefixtures("restore_logging")
def test_library_loggers_stay_at_warning_whatever_our_level() -> None:
    """At DEBUG our lines show; APScheduler, httpx, transitions and uvicorn only warn."""
    stream = io.StringIO()
    configure_logging("DEBUG", "text", stream=stream)
    for name in ("apscheduler.scheduler", "httpx", "transitions.core", "uvicorn.error"):
        logging.getLogger(name).info("chatter")
    logging.getLogger("workflow.runner").debug("ours")
    logging.getLogger("httpx").warning("worth seeing")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert "ours" in lines[0]
    assert "worth seeing" in lines[1]


@pytest.mark.usefixtures("restore_logging")
def test_configuring_twice_replaces_only_our_handler() -> None:
    """A second call swaps its own handler and leaves others (pytest's) in place."""

    def ours() -> list[logging.Handler]:
        return [h for h in logging.getLogger().handlers if getattr(h, "_onboarding", False)]

    others = [h for h in logging.getLogger().handlers if h not in ours()]
    configure_logging("INFO", "text", stream=io.StringIO())
    second = configure_logging("INFO", "json", stream=io.StringIO())
    assert ours() == [second]
    assert [h for h in logging.getLogger().handlers if h not in ours()] == others
    with pytest.raises(ValueError, match="log level must be one of"):
        configure_logging("LOUD", "text")


class RunningWorker:
    """'onboarding worker' against the sandbox, its stderr read line by line in a thread."""

    def __init__(self, tmp_path: Path, sent_url: str, *extra: str) -> None:
        url = f"sqlite:///{tmp_path / 'onboarding.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        env = environment(ONBOARDING_SECRET_KEY=Fernet.generate_key().decode())
        self.process = subprocess.Popen(
            [str(ONBOARDING), "--db", url, "--api-url", sent_url, "--api-key", "sandbox-key",
             "worker", "--poll-interval", "0.05", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 30) -> list[str]:
        """Lines up to and including the first one containing ``text``."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            seen.append(self.lines.get(timeout=max(0.01, deadline - time.monotonic())))
            if text in seen[-1]:
                return seen

    def collect(self, seconds: float) -> list[str]:
        """Every line written during the next ``seconds`` (the measured window)."""
        seen: list[str] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                seen.append(self.lines.get(timeout=left))
            except queue.Empty:
                break
        return seen

    def stop(self) -> list[str]:
        """SIGTERM, wait for a clean exit, and return what it wrote meanwhile."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self._reader.join(timeout=10)
        assert self.process.stderr is not None
        self.process.stderr.close()
        assert code == 0
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get())
        return rest


@pytest.fixture
def sent_url() -> Iterator[str]:
    """The sandbox over HTTP, with nothing to do."""
    box = Sandbox()
    with ServerThread(box.app) as server:
        yield server.url
    box.close()


def test_idle_worker_writes_only_its_start_and_stop_lines(tmp_path: Path, sent_url: str) -> None:
    """At the default level an idle worker ticking 20 times a second writes nothing between
    its start line and its stop lines."""
    worker = RunningWorker(tmp_path, sent_url)
    try:
        started = worker.wait_for("started")
        window = worker.collect(2.0)  # 40 ticks
    finally:
        stopped = worker.stop()
    assert len(started) == 1, started
    assert window == []
    assert len(stopped) == 2, stopped
    assert "signal 15: finishing in-flight steps" in stopped[0]
    assert stopped[1].endswith("worker stopped")


def test_json_log_lines_parse(tmp_path: Path, sent_url: str) -> None:
    """--log-format json: every line the worker writes is a JSON object with the four fields."""
    worker = RunningWorker(tmp_path, sent_url, "--log-format", "json", "--log-level", "DEBUG")
    try:
        lines = worker.wait_for("started")
    finally:
        lines += worker.stop()
    records = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert records[0]["logger"] == "workflow.cli"
    assert records[-1]["message"] == "worker stopped"
    assert not any(r["logger"].startswith(("apscheduler", "httpx")) for r in records)


@pytest.mark.parametrize("command", [["worker"], ["sandbox", "serve"], ["demo"]])
def test_long_running_commands_take_log_options(tmp_path: Path, command: list[str]) -> None:
    """worker, sandbox serve and demo refuse an unknown --log-format, naming text and json."""
    result = subprocess.run(
        [str(ONBOARDING), *command, "--log-format", "xml", "--log-level", "INFO"],
        capture_output=True, text=True, env=environment(), timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--log-format" in result.stderr
    assert "use text or json" in result.stderr
