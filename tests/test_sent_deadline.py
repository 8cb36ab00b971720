"""Every Sent call has a total deadline: a reply trickling in, headers or body, ends the call
as a retryable timeout once the deadline passes, whatever the per-operation timeouts."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from workflow.adapters.sent_client import HttpxSentApi
from workflow.core.errors import SentTransportError

BODY = b'{"success": true, "data": {"id": "prof_1"}}' + b" " * 957  # 1000 bytes


HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    + f"content-length: {len(BODY)}\r\n\r\n".encode()
)


@dataclass
class Trickle:
    """A server on loopback answering one request a byte every ``every`` seconds: all of
    it, or (``head_at_once``) the body only, the status line and headers sent at once."""

    every: float
    head_at_once: bool = False
    sent: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)

    @property
    def total(self) -> int:
        return len(HEAD) + len(BODY)

    def serve(self, listener: socket.socket) -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)  # the request (small, one read)
            if self.head_at_once:
                connection.sendall(HEAD)
                self.sent = len(HEAD)
            for byte in (HEAD + BODY)[self.sent :]:
                if self.stop.wait(self.every):
                    break
                try:
                    connection.sendall(bytes([byte]))
                except OSError:  # the client hung up
                    break
                self.sent += 1
        self.closed.set()


@contextmanager
def _serving(trickle: Trickle) -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=trickle.serve, args=(listener,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        trickle.stop.set()
        thread.join(timeout=10)
        listener.close()


@pytest.mark.parametrize("head_at_once", [False, True], ids=["headers", "body"])
def test_a_trickling_reply_fails_at_the_total_deadline(head_at_once: bool) -> None:
    """A reply sent one byte every 50 ms (each read well within the 30 s read timeout) fails
    as a retryable timeout naming the deadline, while the server is still sending, whether
    it trickles the headers or the body."""
    trickle = Trickle(every=0.05, head_at_once=head_at_once)
    with (
        _serving(trickle) as url,
        HttpxSentApi(url, "k", timeout=30, deadline=0.5) as client,
        pytest.raises(SentTransportError) as caught,
    ):
        client.create_profile({"name": "Acme"}, idempotency_key="k1")
    assert "total deadline of 0.5s" in str(caught.value)
    assert caught.value.retryable
    assert trickle.closed.wait(10)  # the call hung up on it
    assert 0 < trickle.sent < trickle.total
    if head_at_once:
        assert trickle.sent > len(HEAD)  # the headers had arrived: the body was cut off


def test_a_reply_within_the_deadline_is_read_whole() -> None:
    """The same server, sending without pause, is answered: the deadline bounds the call, it
    does not cut a reply that arrives in time."""
    trickle = Trickle(every=0.0)
    with _serving(trickle) as url, HttpxSentApi(url, "k", timeout=30, deadline=30) as client:
        reply = client.get_profile("prof_1")
    assert reply.data.id == "prof_1"
    assert trickle.sent == trickle.total


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf"])
def test_the_deadline_setting_is_checked(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """ONBOARDING_SENT_DEADLINE must be a positive number of seconds; the error names it."""
    monkeypatch.setenv("ONBOARDING_SENT_DEADLINE", value)
    with pytest.raises(ValueError, match="ONBOARDING_SENT_DEADLINE"):
        HttpxSentApi("https://sent.test", "k")


def test_the_deadline_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an argument the deadline is ONBOARDING_SENT_DEADLINE, else 60 seconds."""
    monkeypatch.delenv("ONBOARDING_SENT_DEADLINE", raising=False)
    with HttpxSentApi("https://sent.test", "k") as client:
        assert client.deadline == 60
    monkeypatch.setenv("ONBOARDING_SENT_DEADLINE", "12.5")
    with HttpxSentApi("https://sent.test", "k") as client:
        assert client.deadline == 12.5
