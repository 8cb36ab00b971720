"""The callback receiver stays bounded: oversized bodies are refused at once, without being read
into memory, alone or several at a time; the URL is checked before the body."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.conftest import Harness
from workflow.sandbox import ServerThread, free_port
from workflow.secrets import FernetVault
from workflow.webhook import create_callback_app

HUGE = 300 * 1024 * 1024
CHUNK = b"x" * 65536
MIB = 1024 * 1024


def _huge_body() -> Iterator[bytes]:
    """300 MB streamed: the same 64 KiB chunk, so the test process never holds the body."""
    for _ in range(HUGE // len(CHUNK)):
        yield CHUNK


@pytest.fixture
def onboarding(harness: Harness, samples: dict[str, Any]) -> str:
    return harness.start(samples["demo-inherited"])


def _counted_post(url: str) -> tuple[int, int]:
    """POST the 300 MB body; the answer's status and how many bytes the client had sent by then.

    The server's answer ends the upload: httpx stops at the first write after it, so the count
    bounds what the receiver read, whatever the machine's speed.
    """
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        for chunk in _huge_body():
            sent += len(chunk)
            yield chunk

    with httpx.Client(timeout=30) as client:
        status = client.post(url, content=body()).status_code
    return status, sent


#: A refusal stops the upload long before its end: the receiver reads at most its 64 KiB limit,
#: and the sockets' buffers on both sides hold a few MB more.
SENT_BOUND = 32 * MIB


@pytest.mark.parametrize("database_url_for_test", ["sqlite"], indirect=True)
def test_huge_bodies_are_refused_before_they_are_read(harness: Harness, onboarding: str) -> None:
    """A 300 MB callback is refused after a few MB at most: 413 with a good token, 403 with a bad
    one, 404 for a malformed id."""
    good = harness.executor.callback_url(onboarding)
    urls = {
        413: good,
        403: good.split("?")[0] + "?token=guess",
        404: f"{harness.receiver_url}/callbacks/not-an-id?token=guess",
    }
    for expected, url in urls.items():
        status, sent = _counted_post(url)
        assert status == expected
        assert sent < SENT_BOUND, f"{expected} after {sent} bytes"
    assert harness.store.callbacks(onboarding) == []


@pytest.mark.parametrize("database_url_for_test", ["sqlite"], indirect=True)
def test_announced_length_is_refused_before_the_body_is_sent(
    harness: Harness, onboarding: str
) -> None:
    """A Content-Length past the limit gets 413 although no byte of the body was sent."""
    app = create_callback_app(harness.store, harness.vault, max_body_bytes=1024)
    path = harness.executor.callback_url(onboarding).removeprefix(harness.receiver_url)
    with ServerThread(app) as server:
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {HUGE}\r\n\r\n".encode()
            )
            head = sock.recv(4096)  # no body follows: only an early answer arrives
        assert head.startswith(b"HTTP/1.1 413 ")


def _memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


SERVE = """
import os, uvicorn
from persistence.db import make_engine
from persistence.store import SqlStore
from workflow.secrets import FernetVault
from workflow.webhook import create_callback_app
app = create_callback_app(SqlStore(make_engine(os.environ["RECEIVER_DB"])), FernetVault.from_environment())
uvicorn.run(app, host="127.0.0.1", port=int(os.environ["RECEIVER_PORT"]), log_level="error")
"""


@pytest.fixture
def receiver_process(
    database_url_for_test: str,
) -> Iterator[tuple[subprocess.Popen[bytes], str, FernetVault]]:
    """The receiver alone in a process, on the test's SQLite file."""
    key = Fernet.generate_key()
    port = free_port()
    env = {
        **os.environ, "RECEIVER_DB": database_url_for_test, "RECEIVER_PORT": str(port),
        "ONBOARDING_SECRET_KEY": key.decode(),
    }  # fmt: skip
    process = subprocess.Popen([sys.executable, "-c", SERVE], env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "the receiver exited"
            assert time.monotonic() < deadline, "the receiver never listened"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield process, f"http://127.0.0.1:{port}", FernetVault(key)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("database_url_for_test", ["sqlite"], indirect=True)
def test_receiver_memory_stays_bounded(
    onboarding: str, receiver_process: tuple[subprocess.Popen[bytes], str, FernetVault]
) -> None:
    """Refusing one 300 MB callback, then four at once, grows the receiver's peak memory by
    less than 16 MiB."""
    process, base, vault = receiver_process
    url = f"{base}/callbacks/{onboarding}?token={vault.callback_token(onboarding)}"
    with httpx.Client() as client:  # warm up: imports and pools made by the first requests
        assert client.post(url, json={"status": "warming"}).status_code == 202
        assert client.post(url, content=b"x" * 70_000).status_code == 413
    before = _memory_kib(process.pid)
    status, sent = _counted_post(url)
    assert status == 413
    assert sent < SENT_BOUND, f"refused after {sent} bytes"
    after_one = _memory_kib(process.pid)
    statuses: list[int] = []
    start = threading.Barrier(4)

    def one() -> None:
        start.wait()
        statuses.append(_counted_post(url)[0])

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [413] * 4
    after_four = _memory_kib(process.pid)
    print(f"receiver KiB before {before}, after one {after_one}, after four {after_four}")
    assert (after_one["VmHWM"] - before["VmRSS"]) < 16 * 1024
    assert (after_four["VmHWM"] - before["VmRSS"]) < 16 * 1024
