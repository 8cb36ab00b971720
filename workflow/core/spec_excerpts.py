"""Where a spec file is wrong, said on one printable line that never quotes a secret.

A message names the line and column, the problem (redacted, on one line) and an excerpt of the
offending line, cut around the error; a line that may hold part of a secret's value is not
quoted at all (:func:`inside_secret`).
"""

from __future__ import annotations

import re
from typing import Final

from workflow.core.redaction import mentions_secret, redact
from workflow.core.validation.fields import field_name

__all__ = ["EXCERPT_CHARS", "DuplicateKeyError", "Refused", "located", "one_line"]

#: How much of the offending line a message quotes, either side of the error.
EXCERPT_CHARS: Final = 80


class Refused(Exception):
    """A file-level problem, turned into a SpecError naming the file."""


class DuplicateKeyError(ValueError):
    def __init__(self, key: object) -> None:
        super().__init__(f"duplicate key {field_name(key)!r}")


def _printable(text: str) -> str:
    """``text`` on one line, control characters (terminal escapes too) turned into spaces."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def one_line(text: str, max_chars: int = 2 * EXCERPT_CHARS) -> str:
    """Already-redacted ``text`` on one printable line of at most ``max_chars``."""
    text = " ".join(text.split())
    return _printable(text if len(text) <= max_chars else text[:max_chars] + "…")


#: A line that starts a key (``name:``, ``- name:``, ``"name":``), after its indentation.
_KEY_LINE: Final = re.compile(r"""^[ \t]*(?:-[ \t]+)*(?:"[^"]*"|'[^']*'|[\w.-]+)[ \t]*:(?:\s|$)""")
#: How far up an excerpt looks for the key whose value a line may continue.
_LOOK_BACK_LINES: Final = 200


def _inside_secret(text: str, start: int) -> bool:
    """Whether the line starting at ``start`` may hold (part of) a secret field's value.

    A value may sit on the lines after its key (a tab before it, pretty-printed JSON, a quoted
    string or a number broken over lines), where the key's name is not on the quoted line and
    redaction by name cannot find it. So a secret field named on one of the three lines before,
    or on the key line this line continues (the nearest line above that starts a key), counts.
    A line naming a secret itself is left to :func:`~workflow.core.redaction.redact`.
    """
    lines = text[:start].splitlines()[-_LOOK_BACK_LINES:]
    end = text.find("\n", start)
    current = text[start : end if end >= 0 else len(text)]
    if mentions_secret(current):
        return False
    if any(mentions_secret(line) for line in lines[-3:]):
        return True
    if _KEY_LINE.match(current):
        return False
    for line in reversed(lines):
        if _KEY_LINE.match(line):
            return mentions_secret(line)
    return False


def _excerpt(text: str, index: int) -> str:
    """The line holding ``index``, redacted, on one line, cut around the error; nothing when the
    line may belong to a secret's value (see :func:`_inside_secret`)."""
    start = text.rfind("\n", 0, index) + 1
    end = text.find("\n", index)
    line = text[start : end if end >= 0 else len(text)]
    if _inside_secret(text, start):
        return ""
    # Redact the whole line first: cutting before redacting could split a card number
    # into pieces too short to be recognised.
    shown = " ".join(redact(line).split())
    if len(shown) <= 2 * EXCERPT_CHARS:
        return _printable(shown)
    column = min(index - start, len(shown))
    begin = max(0, column - EXCERPT_CHARS)
    return "…" + _printable(shown[begin : column + EXCERPT_CHARS]) + "…"


def located(text: str, index: int, problem: str, context: str | None = None) -> str:
    start = text.rfind("\n", 0, index) + 1
    line = text.count("\n", 0, index) + 1
    message = f"line {line}, column {index - start + 1}: {one_line(redact(problem))}"
    if context:
        message += f" ({one_line(redact(context))})"
    excerpt = _excerpt(text, index)
    return f"{message}; the line reads: {excerpt}" if excerpt else message
