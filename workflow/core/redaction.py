"""Redacting secrets out of text that quotes a spec: error excerpts, messages.

Secret values go; the words around them stay, Sent's included. Three nets, because a broken
file cannot be trusted to be shaped like a spec:

* by field name: the value after ``card_number``, ``cvc``, ``expiry`` or ``access_token``
  (any quoting, YAML or JSON, ``:`` or ``=``) becomes ``***``. Unless it is prose: Sent's
  errors read ``field.path: field.path is required``, and a sentence (a word, or a field path,
  then another word) is no value of these fields, which are digits, dates and opaque tokens;
* by shape, card numbers: any run of 13 or more digits, possibly split by single spaces or
  dashes (whole or grouped, anywhere), becomes ``***``;
* by shape, WhatsApp access tokens: Meta's ``EAA`` followed by eight or more letters and
  digits, anywhere, becomes ``***``.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["REDACTED", "SECRET_FIELDS", "mentions_secret", "redact"]

REDACTED: Final = "***"
#: Field names whose values are secrets, as the API spells them (and their camelCase forms).
SECRET_FIELDS: Final = ("card_number", "cvc", "expiry", "access_token")

_NAMES = r"card_?number|cardNumber|cvc|cvv|expiry|access_?token|accessToken"
# The key (bare or quoted), a ':' or '=', then the value: a quoted string (closed or not) or
# everything up to the next separator of a flow mapping or list.
_BY_NAME = re.compile(
    rf"""(?P<key>["']?\b(?:{_NAMES})\b["']?\s*[:=]\s*)"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"?|'[^']*'?|[^\s,}\]][^,}\]]*)""",
    re.IGNORECASE,
)
_NAMED = re.compile(rf"(?:{_NAMES})", re.IGNORECASE)
# 13 or more digits, single spaces or dashes allowed between them (4111 1111 1111 1111).
_BY_SHAPE = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,}(?![0-9])")
# A Meta (WhatsApp) access token: EAA, then letters and digits.
_TOKEN = re.compile(r"\bEAA[0-9A-Za-z]{8,}")
# An unquoted value that is a sentence: a word or a field path (lowercase segments, ``[0]``
# indexes; a capital first letter), blanks, then another word: ``is required``,
# ``whatsapp_business_account.access_token is required``, ``Invalid access token``.
_PROSE = re.compile(r"[A-Za-z][a-z_]*(?:(?:\.|\[[0-9]+\]\.?)[a-z_]+)*[ \t]+[A-Za-z(]")


def _mask_value(match: re.Match[str]) -> str:
    value = match.group("value")
    if _PROSE.match(match.string, match.start("value")):
        return match.group(0)  # Sent's words about the field, not its value
    quote = value[0] if value[:1] in ('"', "'") else ""
    closing = quote if quote and len(value) > 1 and value.endswith(quote) else ""
    return f"{match.group('key')}{quote}{REDACTED}{closing}"


def redact(text: str) -> str:
    """``text`` with every secret field's value, every card-shaped digit run and every
    token-shaped string replaced; field names and the words around them are kept.

    The result may still say *where* a secret was (``card_number: "***"``), never what it was.
    """
    return _TOKEN.sub(REDACTED, _BY_SHAPE.sub(REDACTED, _BY_NAME.sub(_mask_value, text)))


def mentions_secret(text: str) -> bool:
    """Whether ``text`` names a secret field (a line near it may hold part of its value)."""
    return _NAMED.search(text) is not None
