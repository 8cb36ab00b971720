"""Who may use the console and what they may do: password hashes, roles, signed sessions,
CSRF tokens, the sign-in rate limit and the trusted-proxy mode.

* Passwords are kept as argon2id hashes (``argon2-cffi``'s defaults), never in clear.
* Roles: ``viewer`` reads; ``operator`` also acts (resume, retry, rewind, cancel, amend, bulk);
  ``admin`` as operator (users are managed with ``onboarding console user``).
* A session is a cookie signed with ``itsdangerous`` (HttpOnly, SameSite=Strict, Secure unless
  the console serves loopback only) holding the user's name, a random nonce and when it was
  issued; the user and role are read from the database on every request, so a removed user is
  out at once. The CSRF token is an HMAC of the session's nonce: every POST must carry it.
* Trusted-proxy mode reads the user from a header an SSO proxy sets, only when configured, and
  only from the proxy's own addresses; the role still comes from the database.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from functools import cache
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeTimedSerializer

__all__ = [
    "ACTING_ROLES",
    "ROLES",
    "LoginLimiter",
    "Session",
    "SessionCodec",
    "check_password",
    "check_user_name",
    "hash_password",
    "prepare_sign_in",
]

ROLES: Final = ("viewer", "operator", "admin")
#: Roles that may change onboardings.
ACTING_ROLES: Final = frozenset({"operator", "admin"})
_HASHER: Final = PasswordHasher()
_USER_NAME: Final = re.compile(r"[A-Za-z0-9._@-]{1,64}")


def check_user_name(name: str) -> str:
    """A user name as stored (and written as the audit log's actor): 1 to 64 letters, digits,
    ``.``, ``_``, ``@`` or ``-``; no ``:``, so it never reads as ``worker:W``.

    Raises:
        ValueError: anything else, naming the rule.
    """
    if not _USER_NAME.fullmatch(name):
        raise ValueError(
            "user name: use 1 to 64 letters, digits, '.', '_', '@' or '-' (e.g. alice)"
        )
    return name


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (at least 12 characters).

    Raises:
        ValueError: the password is shorter than 12 characters.
    """
    if len(password) < 12:
        raise ValueError("password: use at least 12 characters")
    return _HASHER.hash(password)


@cache
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so both answers take as long
    (made on the first sign-in: ``console user add`` never needs it)."""
    return _HASHER.hash("not a password anyone has")


def prepare_sign_in() -> None:
    """Make the unknown user's hash now (a console starting): the first sign-in as a user that
    does not exist then takes as long as any other."""
    _dummy_hash()


def check_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (``None``: no such user, still hashed)."""
    try:
        return _HASHER.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Session:
    """What a session cookie says."""

    user: str
    nonce: str


class SessionCodec:
    """Signs and reads session cookies; derives each session's CSRF token."""

    COOKIE: Final = "console_session"

    def __init__(self, secret: bytes, *, max_age: int) -> None:
        self._secret = secret
        self._serializer = URLSafeTimedSerializer(secret, salt="onboarding-console-session")
        self.max_age = max_age

    def issue(self, user: str) -> tuple[str, Session]:
        """A new session for ``user`` (a fresh nonce: signing in again rotates it)."""
        session = Session(user, secrets.token_urlsafe(16))
        return str(self._serializer.dumps([session.user, session.nonce])), session

    def read(self, cookie: str | None) -> Session | None:
        """The session a cookie holds, if its signature and age are good."""
        if not cookie:
            return None
        try:
            user, nonce = self._serializer.loads(cookie, max_age=self.max_age)
        except (BadSignature, ValueError, TypeError):
            return None
        if not isinstance(user, str) or not isinstance(nonce, str):
            return None
        return Session(user, nonce)

    def csrf_token(self, nonce: str) -> str:
        """The CSRF token of a session (or of a sign-in form's nonce)."""
        digest = hmac.new(self._secret, b"csrf|" + nonce.encode(), hashlib.sha256)
        return digest.hexdigest()

    def check_csrf(self, nonce: str, token: str | None) -> bool:
        """Whether ``token`` is the session's CSRF token."""
        return token is not None and hmac.compare_digest(self.csrf_token(nonce), token)


@dataclass
class LoginLimiter:
    """At most ``attempts`` failed sign-ins per ``window`` seconds from one address, and as
    many for one user name; in memory, per console process."""

    attempts: int = 5
    window: float = 300.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def blocked(self, remote: str, user: str) -> bool:
        """Whether sign-ins from ``remote`` or as ``user`` must wait."""
        now = time.monotonic()
        with self._lock:
            return any(
                len(self._recent(key, now)) >= self.attempts
                for key in (f"addr:{remote}", f"user:{user}")
            )

    def failed(self, remote: str, user: str) -> None:
        """Count a failed sign-in."""
        now = time.monotonic()
        with self._lock:
            for key in (f"addr:{remote}", f"user:{user}"):
                self._recent(key, now).append(now)

    def succeeded(self, user: str) -> None:
        """Forget the user's failures after a good sign-in."""
        with self._lock:
            self._failures.pop(f"user:{user}", None)
