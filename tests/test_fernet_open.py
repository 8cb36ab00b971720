"""Opening secrets with the interpreter's OpenSSL: what ``cryptography``'s Fernet seals opens
to the same bytes, and whatever Fernet refuses (another key, an altered token) is refused."""

from __future__ import annotations

import base64
import sys

import pytest
from cryptography.fernet import Fernet, InvalidToken

from workflow.adapters.fernet_open import InvalidFernetToken, opener
from workflow.adapters.vault import FernetVault
from workflow.core.errors import SecretUnavailableError

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="libcrypto is found in /proc/self/maps"
)


def _flipped(token: bytes, index: int) -> bytes:
    data = bytearray(base64.urlsafe_b64decode(token))
    data[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(data))


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 31, 32, 1000, 70_000])
def test_what_fernet_seals_opens_to_the_same_bytes(size: int) -> None:
    key = Fernet.generate_key()
    open_token = opener(key)
    assert open_token is not None
    plaintext = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    assert open_token(Fernet(key).encrypt(plaintext)) == plaintext


def test_a_token_fernet_refuses_is_refused() -> None:
    key = Fernet.generate_key()
    open_token = opener(key)
    assert open_token is not None
    token = Fernet(key).encrypt(b'{"card_number": "4242"}')
    refused = [
        Fernet(Fernet.generate_key()).encrypt(b'{"card_number": "4242"}'),  # another key
        _flipped(token, 0),  # version
        _flipped(token, 5),  # timestamp
        _flipped(token, 12),  # IV
        _flipped(token, 30),  # ciphertext
        _flipped(token, -1),  # signature
        token[:-48],  # cut short
        b"",
        b"not base64 at all!",
    ]
    for bad in refused:
        with pytest.raises(InvalidFernetToken):
            open_token(bad)
        with pytest.raises(InvalidToken):
            Fernet(key).decrypt(bad)  # Fernet refuses each of them too


def test_the_vault_opens_what_it_sealed_and_refuses_another_keys_secrets() -> None:
    vault, other = FernetVault.generate(), FernetVault.generate()
    secrets = {"card_number": "4242424242424242", "cvc": "123"}
    assert vault.open("o1", vault.seal(secrets)) == secrets
    with pytest.raises(SecretUnavailableError, match="cannot be decrypted"):
        vault.open("o1", other.seal(secrets))


def test_without_the_interpreters_libcrypto_the_vault_opens_with_cryptography(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import workflow.adapters.fernet_open as fernet_open

    monkeypatch.setattr(fernet_open, "opener", lambda key: None)
    vault, other = FernetVault.generate(), FernetVault.generate()
    secrets = {"whatsapp_token": "EAAG-token"}
    assert vault.open("o1", vault.seal(secrets)) == secrets
    with pytest.raises(SecretUnavailableError, match="cannot be decrypted"):
        vault.open("o1", other.seal(secrets))
