"""Masking what must never be printed: card numbers and access tokens inside free text.

Used on every message the engine stores or logs that carries text it did not write (exception
messages, Sent's error messages). Payment data never reaches the database in the first place;
this is the second line for text that might quote it.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["redact"]

#: 13 to 19 digits, possibly grouped by spaces or dashes: the shape of a card number.
_CARD: Final = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
#: ``card_number``, ``cvc``, ``expiry`` or ``access_token`` followed by a value.
_FIELD: Final = re.compile(
    r"(?i)(card_number|cvc|expiry|access_token)(['\"]?\s*[:=]\s*)(['\"]?)[^'\",\s}]+"
)
MASK: Final = "[redacted]"


def redact(text: str) -> str:
    """``text`` with card-number-shaped digit runs and secret field values masked."""
    text = _FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{MASK}", text)
    return _CARD.sub(MASK, text)
