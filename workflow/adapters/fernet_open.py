"""Opening a Fernet token with the OpenSSL the interpreter already loaded, not ``cryptography``.

A worker opens each onboarding's secrets once, in the step that sends them, and never seals:
``cryptography`` (its own statically linked OpenSSL, about 7 MiB of the worker's resident
memory) would be loaded for that alone. Python's ``hashlib`` has already mapped the system's
``libcrypto``; AES-128-CBC is called from it through ``ctypes``, and the HMAC-SHA256 check is
``hmac``'s. The token format and every check are Fernet's (its specification, and
``cryptography.fernet.Fernet.decrypt`` without a TTL): version byte 0x80, the signature over
everything before it compared in constant time before anything is decrypted, PKCS#7 padding.

:func:`opener` returns ``None`` where that ``libcrypto`` cannot be found (not Linux, a Python
without ``hashlib``'s OpenSSL); the vault then opens with ``cryptography`` as it seals.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import hashlib
import hmac
from collections.abc import Callable
from functools import cache

__all__ = ["InvalidFernetToken", "opener"]

_HEADER = 1 + 8 + 16  # version, timestamp, IV
_SIGNATURE = 32


class InvalidFernetToken(ValueError):
    """The token is malformed, was not made with this key, or was altered."""


@cache
def _libcrypto() -> ctypes.PyDLL | None:
    """The ``libcrypto`` ``hashlib`` loaded (read from ``/proc/self/maps``), with the
    signatures used here declared; ``None`` when there is none to find."""
    import _hashlib  # noqa: F401  (maps libcrypto; hashlib has imported it already)

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split()[-1] for line in maps if "/libcrypto.so" in line}
    except OSError:
        return None
    if len(paths) != 1:
        return None
    try:
        # PyDLL keeps the GIL through each call: they take microseconds, and releasing it
        # would hand it to another step thread six times per token.
        lib = ctypes.PyDLL(paths.pop())
        lib.EVP_aes_128_cbc.restype = ctypes.c_void_p
        lib.EVP_aes_128_cbc.argtypes = []
        lib.EVP_CIPHER_CTX_new.restype = ctypes.c_void_p
        lib.EVP_CIPHER_CTX_new.argtypes = []
        lib.EVP_CIPHER_CTX_free.restype = None
        lib.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]
        pointer, length = ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)
        lib.EVP_DecryptInit_ex.restype = ctypes.c_int
        lib.EVP_DecryptInit_ex.argtypes = [ctypes.c_void_p] * 3 + [pointer, pointer]
        lib.EVP_DecryptUpdate.restype = ctypes.c_int
        lib.EVP_DecryptUpdate.argtypes = [ctypes.c_void_p, ctypes.c_void_p, length, pointer]
        lib.EVP_DecryptUpdate.argtypes += [ctypes.c_int]
        lib.EVP_DecryptFinal_ex.restype = ctypes.c_int
        lib.EVP_DecryptFinal_ex.argtypes = [ctypes.c_void_p, ctypes.c_void_p, length]
    except (OSError, AttributeError):
        return None
    return lib


def _aes_128_cbc_unpadded(lib: ctypes.PyDLL, key: bytes, iv: bytes, data: bytes) -> bytes:
    """``data`` decrypted, its PKCS#7 padding checked and removed (OpenSSL's default)."""
    context = lib.EVP_CIPHER_CTX_new()
    if not context:
        raise MemoryError("EVP_CIPHER_CTX_new failed")
    try:
        out = ctypes.create_string_buffer(len(data) + 16)
        written, final = ctypes.c_int(0), ctypes.c_int(0)
        if lib.EVP_DecryptInit_ex(context, lib.EVP_aes_128_cbc(), None, key, iv) != 1:
            raise InvalidFernetToken("the cipher did not start")
        if lib.EVP_DecryptUpdate(context, out, ctypes.byref(written), data, len(data)) != 1:
            raise InvalidFernetToken("the ciphertext does not decrypt")
        end = ctypes.cast(ctypes.addressof(out) + written.value, ctypes.c_void_p)
        if lib.EVP_DecryptFinal_ex(context, end, ctypes.byref(final)) != 1:
            raise InvalidFernetToken("bad length or padding")
        return out.raw[: written.value + final.value]
    finally:
        lib.EVP_CIPHER_CTX_free(context)


def opener(key: bytes) -> Callable[[bytes], bytes] | None:
    """A function opening tokens made with the Fernet ``key`` (url-safe base64 of 32 bytes),
    raising :class:`InvalidFernetToken` as Fernet raises ``InvalidToken``; ``None`` where the
    interpreter's ``libcrypto`` is not available."""
    lib = _libcrypto()
    if lib is None:
        return None
    raw = base64.urlsafe_b64decode(key)
    signing, encryption = raw[:16], raw[16:]

    def open_token(token: bytes) -> bytes:
        try:
            data = base64.urlsafe_b64decode(token)
        except (TypeError, binascii.Error):
            raise InvalidFernetToken("not base64") from None
        if len(data) < _HEADER or data[0] != 0x80:
            raise InvalidFernetToken("not a Fernet token")
        expected = hmac.new(signing, data[:-_SIGNATURE], hashlib.sha256).digest()
        if not hmac.compare_digest(expected, data[-_SIGNATURE:]):
            raise InvalidFernetToken("the signature does not match")
        iv = data[9:_HEADER]
        return _aes_128_cbc_unpadded(lib, encryption, iv, data[_HEADER:-_SIGNATURE])

    return open_token
