"""Bounding and cleaning values that come from outside (Sent's replies) before they are kept.

Every database the engine runs on refuses some text: PostgreSQL a NUL character anywhere and
a ``varchar(64)`` longer than 64 characters, SQLite (through Python's driver) a string holding
an unpaired surrogate, which a JSON ``\\ud800`` escape decodes to. A value Sent answers must
therefore be cleaned (:func:`clean`: NUL and surrogates become U+FFFD) and cut to its column
(:func:`bounded`) where replies are parsed, so a reply can never make a commit fail. Ids are
never cut (a cut id names another resource): a reply whose id does not fit is refused instead.

Pure functions, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "MAX_CODE",
    "MAX_ID",
    "MAX_MESSAGE",
    "MAX_REASON",
    "MAX_REQUEST_ID",
    "MAX_STATUS",
    "MAX_TEXT",
    "bounded",
    "bounded_details",
    "clean",
    "clean_json",
    "optional",
]

#: The widths of the columns Sent's values go to (``step_attempts.error_code``,
#: ``.request_id``, ``.resource_id``, ``onboardings.profile_id``, ``transitions.request_id``).
MAX_CODE: Final = 64
MAX_REQUEST_ID: Final = 64
MAX_ID: Final = 64
#: Statuses are short words (``submitted``, ``pending_review``); anything longer is cut.
MAX_STATUS: Final = 64
#: An error message, a rejection reason.
MAX_MESSAGE: Final = 1000
#: Any other text field of a reply that is kept (names, descriptions, phone numbers).
MAX_TEXT: Final = 4096
#: A pause reason: the message, the details and the request id quoted together.
MAX_REASON: Final = 6000
#: ``error.details``: at most this many fields, values per field, characters per key and per
#: value, and characters over all.
MAX_DETAIL_KEYS: Final = 20
MAX_DETAIL_VALUES: Final = 5
MAX_DETAIL_KEY: Final = 128
MAX_DETAIL_VALUE: Final = 300
MAX_DETAILS: Final = 4000

REPLACEMENT: Final = "\ufffd"
ELLIPSIS: Final = "\u2026"
_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")


def clean(text: str) -> str:
    """``text`` with every NUL and every surrogate code point replaced by U+FFFD.

    A Python string holds a surrogate only when it is unpaired (JSON's decoder joins pairs),
    and such a string cannot be encoded as UTF-8; PostgreSQL stores no NUL in text.
    """
    if text.isascii() and "\x00" not in text:
        return text
    return _UNSTORABLE.sub(REPLACEMENT, text)


def bounded(text: str, limit: int) -> str:
    """``text`` cleaned and at most ``limit`` characters long (a cut ends with an ellipsis)."""
    text = clean(text)
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def optional(value: object, limit: int) -> str | None:
    """``value`` as :func:`bounded` text when it is a string, else ``None``."""
    return bounded(value, limit) if isinstance(value, str) else None


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):  # a cycle, or nested past the recursion limit
        return type(value).__name__


def bounded_details(details: object) -> dict[str, list[str]]:
    """Sent's ``error.details`` as field -> messages, cleaned and bounded.

    A value that is not a list becomes a one-message list; a message that is not text is
    written as compact JSON. Fields past :data:`MAX_DETAIL_KEYS`, messages past
    :data:`MAX_DETAIL_VALUES` and anything past :data:`MAX_DETAILS` characters in all are left
    out; anything that is not a mapping gives no details.
    """
    if not isinstance(details, Mapping):
        return {}
    result: dict[str, list[str]] = {}
    budget = MAX_DETAILS
    for key, value in details.items():
        if len(result) >= MAX_DETAIL_KEYS or budget <= 0:
            break
        name = bounded(_text(key), MAX_DETAIL_KEY)
        items = value if isinstance(value, list | tuple) else [value]
        messages = []
        for item in items[:MAX_DETAIL_VALUES]:
            message = bounded(_text(item), min(MAX_DETAIL_VALUE, max(budget, 2)))
            budget -= len(message)
            messages.append(message)
            if budget <= 0:
                break
        budget -= len(name)
        result.setdefault(name, []).extend(messages)
    return result


def clean_json(value: Any) -> Any:
    """A decoded JSON value with every string (keys too) :func:`clean`-ed.

    Iterative, so no depth can exhaust the stack; containers are copied, never changed.
    """
    root: list[Any] = [None]
    pending: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while pending:
        item, parent, slot = pending.pop()
        if isinstance(item, str):
            parent[slot] = clean(item)
        elif isinstance(item, dict):
            copy: dict[str, Any] = {}
            parent[slot] = copy
            for key, child in item.items():
                name = clean(key) if isinstance(key, str) else key
                copy[name] = None
                pending.append((child, copy, name))
        elif isinstance(item, list):
            items: list[Any] = [None] * len(item)
            parent[slot] = items
            pending.extend((child, items, index) for index, child in enumerate(item))
        else:
            parent[slot] = item
    return root[0]
