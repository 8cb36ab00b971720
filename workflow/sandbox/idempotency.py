"""Idempotency-Key handling: replay the first answer, refuse a reused key with another body."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from workflow.sandbox.envelope import Reply

__all__ = ["IdempotencyCache", "Lookup"]

WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class _Entry:
    fingerprint: str
    reply: Reply
    stored_at: datetime


@dataclass(frozen=True, slots=True)
class Lookup:
    """What the cache knows of a key: nothing, the same request (replay it), or a conflict."""

    replay: Reply | None = None
    conflict: bool = False


class IdempotencyCache:
    """Answers cached for 24 hours (of sandbox time) per key per API key."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    @staticmethod
    def fingerprint(method: str, path: str, body: bytes) -> str:
        """What makes two requests "the same": method, path and body bytes."""
        return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()

    def lookup(self, api_key: str, key: str, fingerprint: str, now: datetime) -> Lookup:
        """The cached answer for this key, if the same request came within the window."""
        with self._lock:
            entry = self._entries.get((api_key, key))
            if entry is None or now - entry.stored_at >= WINDOW:
                self._entries.pop((api_key, key), None)
                return Lookup()
            if entry.fingerprint != fingerprint:
                return Lookup(conflict=True)
            return Lookup(replay=entry.reply)

    def store(self, api_key: str, key: str, fingerprint: str, reply: Reply, now: datetime) -> None:
        """Remember the answer to a request that was executed (errors from validation too)."""
        with self._lock:
            self._entries[(api_key, key)] = _Entry(fingerprint, reply, now)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
