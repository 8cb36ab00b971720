"""How big and how deep a request or a spec may be, as named constants.

Limits the API documents are taken as written; the others are sane bounds chosen here, so that
no input can make a check slow or an error message huge. The sandbox enforces the same numbers
(it calls the same rules).

=============================  =========  ==================================================
What                           Limit      Source
=============================  =========  ==================================================
``short_name``                 3–11       documented (seed create/update pages)
sample messages per use case   1–5        documented (``sampleMessages``)
one sample message             1024       documented
``Idempotency-Key``, ``key``   1–255      documented (``^[a-zA-Z0-9_-]+$``)
free text                      5000       the later API text gives description max 5000;
                                          used for every free text: ``description``,
                                          ``notes``, ``primaryUseCase``, campaign messages
                                          and ``messageFlow``, billing ``address``,
                                          ``access_token``
short strings                  255        chosen: names, ids, emails, phones, country and
                                          tax codes, keywords, campaign ``type``
URLs                           2048       chosen: ``icon``, ``url``, policy and terms links
items in an open list          100        chosen: ``destinationCountries``, ``useCases``,
                                          a spec's ``campaigns``
nesting of one document        32         chosen: levels of objects and lists
values in one document         100000     chosen: objects, lists and scalars together
specs in one file              10000      chosen: a list of specs at the top of a file
characters of a number         100        chosen: integers and decimals written in a spec
spec file size                 10 MB      chosen; ``ONBOARDING_MAX_SPEC_BYTES`` overrides
=============================  =========  ==================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

__all__ = [
    "MAX_DEPTH",
    "MAX_IDEMPOTENCY_KEY_CHARS",
    "MAX_LIST_ITEMS",
    "MAX_NAME_CHARS",
    "MAX_NUMBER_CHARS",
    "MAX_SAMPLE_MESSAGES",
    "MAX_SAMPLE_MESSAGE_CHARS",
    "MAX_SPECS_PER_FILE",
    "MAX_SPEC_BYTES",
    "MAX_TEXT_CHARS",
    "MAX_URL_CHARS",
    "MAX_VALUES",
    "json_nesting_overflow",
    "structure_problem",
]

#: Documented: "1–5 messages, ≤1024 chars each".
MAX_SAMPLE_MESSAGE_CHARS: Final = 1024
MAX_SAMPLE_MESSAGES: Final = 5
#: Documented: Idempotency-Key length 1–255.
MAX_IDEMPOTENCY_KEY_CHARS: Final = 255
#: The later API text gives "description max 5000"; used for every free text.
MAX_TEXT_CHARS: Final = 5000
#: Chosen for names, ids, emails, phones, codes and keywords.
MAX_NAME_CHARS: Final = 255
#: Chosen for URLs (the common browser and server bound).
MAX_URL_CHARS: Final = 2048
#: Chosen for lists the API leaves open.
MAX_LIST_ITEMS: Final = 100
#: Chosen: levels of objects and lists in one document (the deepest valid spec uses 5).
MAX_DEPTH: Final = 32
#: Chosen: values in one spec document, so shared references cannot multiply the work.
MAX_VALUES: Final = 100_000
#: Chosen: specs in one file (the items of a top-level list).
MAX_SPECS_PER_FILE: Final = 10_000
#: Chosen: characters of one number in a spec file (reading a huge one is slow).
MAX_NUMBER_CHARS: Final = 100
#: Chosen default for a spec file; ``ONBOARDING_MAX_SPEC_BYTES`` overrides it.
MAX_SPEC_BYTES: Final = 10 * 1024 * 1024

TOO_DEEP: Final = f"nested deeper than {MAX_DEPTH} levels"
TOO_MANY_VALUES: Final = f"holds more than {MAX_VALUES} values"

# A JSON string (escapes included, written so the regex never backtracks) or a bracket.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def structure_problem(value: object) -> str | None:
    """Why a decoded document is too deep or too big to check, or ``None`` when it is fine.

    Walks the document with an explicit stack, never recursion, so a structure nested far
    beyond the interpreter's recursion limit is measured safely; it stops at the first level
    past :data:`MAX_DEPTH` or the first value past :data:`MAX_VALUES`, so a structure that
    shares one list many times over (a library caller's "billion laughs") costs little.
    """
    stack: list[tuple[object, int]] = [(value, 1)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            return TOO_MANY_VALUES
        if isinstance(node, Mapping):
            children: list[object] = list(node.values())
        elif isinstance(node, list | tuple):
            children = list(node)
        else:
            continue
        if depth > MAX_DEPTH:
            return TOO_DEEP
        stack.extend((child, depth + 1) for child in children)
    return None


def json_nesting_overflow(text: str) -> int | None:
    """The index in JSON ``text`` where nesting first passes :data:`MAX_DEPTH`, or ``None``.

    A linear scan that skips strings, run before decoding: the decoder itself recurses once
    per level and would raise ``RecursionError`` on input nested thousands deep.
    """
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return match.start()
        elif token in "]}":
            depth -= 1
    return None
