"""``FernetVault``: card data and WhatsApp tokens encrypted at rest, and callback tokens.

The plaintext exists only in memory: while a spec is parsed, and inside the create step that
sends it. The database holds Fernet ciphertext (AES-128-CBC + HMAC-SHA256) until that step
succeeds or the onboarding ends. The key comes from ``ONBOARDING_SECRET_KEY`` or a key file
created with mode 0600; losing it makes pending secrets unreadable (the step pauses, saying so).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from workflow.errors import SecretUnavailableError

__all__ = ["DEFAULT_KEY_FILE", "FernetVault"]

DEFAULT_KEY_FILE = Path("onboarding.key")


class FernetVault:
    """Seals and opens an onboarding's secrets; derives its callback token."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        # A separate key for callback tokens, so a leaked token says nothing about the vault key.
        self._token_key = hashlib.sha256(b"onboarding-callback-token:" + key).digest()

    @classmethod
    def generate(cls) -> FernetVault:
        """A vault with a fresh random key (tests, throwaway demos)."""
        return cls(Fernet.generate_key())

    @classmethod
    def from_environment(cls, key_file: Path | None = None) -> FernetVault:
        """The key from ``ONBOARDING_SECRET_KEY``, else ``key_file`` (created 0600 if absent)."""
        env = os.environ.get("ONBOARDING_SECRET_KEY")
        if env:
            return cls(env.encode())
        path = key_file or Path(os.environ.get("ONBOARDING_SECRET_KEY_FILE", DEFAULT_KEY_FILE))
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls(path.read_bytes().strip())
        with os.fdopen(descriptor, "wb") as handle:
            key = Fernet.generate_key()
            handle.write(key)
        return cls(key)

    def seal(self, values: dict[str, str]) -> bytes:
        """Encrypt a dict of secrets."""
        return self._fernet.encrypt(json.dumps(values).encode())

    def open(self, onboarding_id: str, blob: bytes | None) -> dict[str, str]:
        """Decrypt an onboarding's secrets.

        Raises:
            SecretUnavailableError: gone (already sent, or deleted) or not readable with this key.
        """
        if blob is None:
            raise SecretUnavailableError(
                f"onboarding {onboarding_id}: its payment details / WhatsApp token are no longer "
                "held; cancel it and start it again with the secrets in the spec"
            )
        try:
            values: dict[str, str] = json.loads(self._fernet.decrypt(blob))
        except (InvalidToken, ValueError):
            raise SecretUnavailableError(
                f"onboarding {onboarding_id}: its secrets cannot be decrypted with the configured "
                "key (ONBOARDING_SECRET_KEY or the key file changed); restore the key or cancel "
                "and start again"
            ) from None
        return values

    def callback_token(self, onboarding_id: str) -> str:
        """The per-onboarding secret token put in the completion callback URL."""
        digest = hmac.new(self._token_key, onboarding_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def check_callback_token(self, onboarding_id: str, token: str) -> bool:
        """Constant-time comparison of a presented token."""
        return hmac.compare_digest(self.callback_token(onboarding_id), token)
