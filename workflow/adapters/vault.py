"""``FernetVault``: card data and WhatsApp tokens encrypted at rest, and callback tokens.

The plaintext exists only in memory: while a spec is parsed, and inside the create step that
sends it. The database holds Fernet ciphertext (AES-128-CBC + HMAC-SHA256) until that step
succeeds or the onboarding ends. The key comes from ``ONBOARDING_SECRET_KEY`` or a key file
created with mode 0600; losing it makes pending secrets unreadable (the step pauses, saying so).

The key file lives beside the SQLite database it protects (``onboarding.db.key``), so every
process using that database finds the same key whatever its working directory. A server
database (PostgreSQL) has no "beside": its users must name the key. A key file other users can
read is used, with a warning.

The same key anchors the audit log (:mod:`workflow.core.audit_chain`): the anchoring key is derived
from it with HKDF-SHA256 under a label of its own (:data:`ANCHOR_LABEL`), so a deployment has one
key to keep, back up and hand to every process writing the database, and neither key says anything
about the other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from workflow.core.audit_chain import AnchorKey
from workflow.core.errors import SecretUnavailableError

__all__ = [
    "ANCHOR_LABEL",
    "DEFAULT_KEY_FILE",
    "FernetVault",
    "default_key_file",
    "hkdf_sha256",
    "write_key_file",
]

log = logging.getLogger("workflow.secrets")

#: The key file used when neither a key nor a database URL is given (library callers).
DEFAULT_KEY_FILE = Path("onboarding.key")


def default_key_file(db_url: str) -> Path | None:
    """The key file beside a SQLite database (``<database>.key``); ``None`` for other databases.

    Beside the data, not in the working directory: ``start`` in one directory and ``worker``
    in another then share one key, instead of the worker making a second one that cannot read
    what ``start`` sealed.
    """
    path = _sqlite_file(db_url)
    return None if path is None else path.with_name(path.name + ".key")


def _sqlite_file(db_url: str) -> Path | None:
    """The file a ``sqlite:///`` URL names, read as SQLAlchemy reads it; ``None`` otherwise."""
    scheme, found, rest = db_url.partition("://")
    if not found or scheme.split("+")[0] != "sqlite":
        return None
    database = rest.partition("/")[2].partition("?")[0]
    return None if database in ("", ":memory:") else Path(database)


def _masked(db_url: str | None) -> str:
    """The URL with its password masked, for a message; no database module needed."""
    if not db_url:
        return "the database"
    try:
        parts = urlsplit(db_url)
        if parts.password is None:
            return db_url
        netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
        return urlunsplit(parts._replace(netloc=netloc + (f":{parts.port}" if parts.port else "")))
    except ValueError:
        return db_url.partition("://")[0] + "://..."


#: The HKDF ``info`` the audit anchoring key is derived under.
ANCHOR_LABEL = b"sent-onboarding audit anchor v1"


def hkdf_sha256(key: bytes, info: bytes, length: int = 32, salt: bytes = b"") -> bytes:
    """HKDF (RFC 5869) with SHA-256: ``length`` bytes derived from ``key`` for ``info``.

    In the standard library (``hmac``), so anchoring does not load ``cryptography``.
    """
    if length > 255 * 32:
        raise ValueError("HKDF-SHA256 derives at most 8160 bytes")
    pseudorandom = hmac.new(salt or bytes(32), key, hashlib.sha256).digest()
    block, out, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(pseudorandom, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def _new_key() -> bytes:
    return base64.urlsafe_b64encode(os.urandom(32))


def _warn_if_readable(path: Path, descriptor: int) -> None:
    mode = os.fstat(descriptor).st_mode & 0o777
    if mode & 0o077:
        log.warning(
            "key file %s can be read by other users (mode %04o): run 'chmod 600 %s'",
            path, mode, path,
        )  # fmt: skip


def write_key_file(path: Path, *, force: bool = False) -> None:
    """Write a fresh key to ``path``, readable by its owner only (0600).

    Args:
        force: replace an existing file (atomically: a new file renamed over it).

    Raises:
        FileExistsError: ``path`` exists and ``force`` is false.
        OSError: the file cannot be written.
    """
    target = path
    if force:
        target = path.with_name(f".{path.name}.{os.getpid()}.new")
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)  # whatever the umask made of it
            handle.write(_new_key() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(target, path)
    except BaseException:
        if force:
            target.unlink(missing_ok=True)
        raise


class FernetVault:
    """Seals and opens an onboarding's secrets; derives its callback token.

    ``cryptography`` loads on the first seal (opening calls the OpenSSL ``hashlib`` loaded,
    :mod:`workflow.adapters.fernet_open`, where it can): a worker whose onboardings carry no
    secrets (and every read-only command) never pays for it.
    """

    def __init__(self, key: bytes) -> None:
        # Fernet's own check: 32 bytes in url-safe base64 (raises ValueError otherwise).
        try:
            raw = base64.urlsafe_b64decode(key)
        except (ValueError, TypeError):
            raise ValueError("Fernet key must be 32 url-safe base64-encoded bytes.") from None
        if len(raw) != 32:
            raise ValueError("Fernet key must be 32 url-safe base64-encoded bytes.")
        self._key = key
        self._fernet_instance: Any = None
        self._opener: Callable[[bytes], bytes] | None = None
        # A separate key for callback tokens, so a leaked token says nothing about the vault key.
        self._token_key = hashlib.sha256(b"onboarding-callback-token:" + key).digest()
        self._anchors = AnchorKey(hkdf_sha256(raw, ANCHOR_LABEL))
        self._fingerprint_key = hashlib.sha256(b"onboarding-secrets-fingerprint:" + key).digest()

    @property
    def _fernet(self) -> Any:
        if self._fernet_instance is None:
            from cryptography.fernet import Fernet

            self._fernet_instance = Fernet(self._key)
        return self._fernet_instance

    @classmethod
    def generate(cls) -> FernetVault:
        """A vault with a fresh random key (tests, throwaway demos)."""
        return cls(_new_key())

    @staticmethod
    def new_key() -> str:
        """A fresh random key (44 characters of url-safe base64), for
        ``ONBOARDING_SECRET_KEY`` or a key file; ``onboarding key generate`` prints one."""
        return _new_key().decode("ascii")

    @classmethod
    def _checked(cls, key: bytes, source: str) -> FernetVault:
        try:
            return cls(key)
        except ValueError:
            # Never echo the value: it may be a real key with a typo.
            raise SecretUnavailableError(
                f"{source} does not hold a Fernet key (44 characters of url-safe base64); "
                "restore the right key"
            ) from None

    @classmethod
    def from_key_file(cls, path: Path, *, create: bool = True) -> tuple[FernetVault, bool]:
        """The key in ``path``, created (mode 0600) when absent; returns ``(vault, created)``.

        A key file that users other than its owner can read is used, and a warning is logged.

        Args:
            create: make the file when it is absent (otherwise that is an error).

        Raises:
            OSError: the file cannot be read or created (``FileNotFoundError`` when absent and
                ``create`` is false).
            SecretUnavailableError: the file holds no valid key.
        """
        try:
            if not create:
                raise FileExistsError(path)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            with path.open("rb") as existing:
                vault = cls._checked(existing.read().strip(), f"key file {path}")
                _warn_if_readable(path, existing.fileno())
            return vault, False
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(descriptor, 0o600)  # whatever the umask made of it
            key = _new_key()
            handle.write(key)
        return cls(key), True

    @classmethod
    def from_environment(
        cls, key_file: Path | None = None, *, db_url: str | None = None
    ) -> FernetVault:
        """The key from ``ONBOARDING_SECRET_KEY``, else a key file (created 0600 if absent).

        The key file is ``key_file``, else ``ONBOARDING_SECRET_KEY_FILE``, else the one beside
        the SQLite database ``db_url`` names (:func:`default_key_file`), else
        ``onboarding.key`` in the working directory when no ``db_url`` is given.

        Raises:
            SecretUnavailableError: ``db_url`` is not a SQLite file and no key was named, or
                the key is not a valid Fernet key.
            OSError: the key file cannot be read or created.
        """
        env = os.environ.get("ONBOARDING_SECRET_KEY")
        if env:
            return cls._checked(env.encode(), "ONBOARDING_SECRET_KEY")
        named = key_file or os.environ.get("ONBOARDING_SECRET_KEY_FILE")
        path = Path(named) if named else None
        if path is None:
            path = DEFAULT_KEY_FILE if db_url is None else default_key_file(db_url)
        if path is None:
            raise SecretUnavailableError(
                f"no secret key for {_masked(db_url)}: set ONBOARDING_SECRET_KEY or name a key "
                "file (--key-file / ONBOARDING_SECRET_KEY_FILE), the same for every process "
                "using that database"
            )
        vault, created = cls.from_key_file(path)
        if created:
            log.warning("created secret key file %s: keep it with the database", path)
        return vault

    def seal(self, values: dict[str, str]) -> bytes:
        """Encrypt a dict of secrets."""
        sealed: bytes = self._fernet.encrypt(json.dumps(values).encode())
        return sealed

    def open(self, onboarding_id: str, blob: bytes | None) -> dict[str, str]:
        """Decrypt an onboarding's secrets.

        Raises:
            SecretUnavailableError: gone (already sent, or deleted) or not readable with this key.
        """
        amend = (
            f"give them again with 'onboarding amend {onboarding_id} SPEC_FILE' (the spec with "
            "its payment details / WhatsApp token), then 'onboarding resume'"
        )
        if blob is None:
            raise SecretUnavailableError(
                f"onboarding {onboarding_id}: its payment details / WhatsApp token are no longer "
                f"held; {amend}"
            )
        try:
            values: dict[str, str] = json.loads(self._open_token(blob))
        except ValueError:  # InvalidFernetToken, cryptography's InvalidToken, or no JSON
            raise SecretUnavailableError(
                f"onboarding {onboarding_id}: its secrets cannot be decrypted with the configured "
                "key (ONBOARDING_SECRET_KEY or the key file changed): restore that key and run "
                f"'onboarding resume {onboarding_id}', or {amend}"
            ) from None
        return values

    def _open_token(self, blob: bytes) -> bytes:
        """The plaintext of a token (:mod:`workflow.adapters.fernet_open`, else ``cryptography``).

        Raises:
            ValueError: the token cannot be opened with this key.
        """
        if self._opener is None:
            from workflow.adapters.fernet_open import opener

            self._opener = opener(self._key) or self._cryptography_open
        return self._opener(blob)

    def _cryptography_open(self, blob: bytes) -> bytes:
        from cryptography.fernet import InvalidToken

        try:
            opened: bytes = self._fernet.decrypt(blob)
        except InvalidToken:
            raise ValueError("invalid Fernet token") from None
        return opened

    def anchor(self, onboarding_id: str, seq: int, head: str, previous: str) -> str:
        """The anchor of an audit chain head (:func:`workflow.core.audit_chain.anchor`), under the
        key derived from this vault's key."""
        return self._anchors.anchor(onboarding_id, seq, head, previous)

    def fingerprint(self, values: dict[str, str]) -> str:
        """HMAC-SHA256 of secrets under a key derived from the vault key (64 hex digits).

        Stored beside the onboarding, it recognises the same card and token after they were sent
        and deleted. Keyed because a card number has too little entropy for a plain hash: without
        the vault key, the digest cannot be tested against guessed numbers.
        """
        canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return hmac.new(self._fingerprint_key, canonical.encode(), hashlib.sha256).hexdigest()

    def callback_token(self, onboarding_id: str) -> str:
        """The per-onboarding secret token put in the completion callback URL."""
        digest = hmac.new(self._token_key, onboarding_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def check_callback_token(self, onboarding_id: str, token: str) -> bool:
        """Constant-time comparison of a presented token."""
        return hmac.compare_digest(self.callback_token(onboarding_id), token)
