"""Text written by others made safe to print: control characters shown as visible escapes.

Sent's error messages, operators' reasons and actors, spec values and whatever a database holds
reach terminals and text logs. Printed raw, an escape sequence clears the screen, moves the
cursor or plants an OSC-8 hyperlink; a carriage return or line feed forges a log line that the
worker never wrote; a bidi override makes a line read differently from what it holds; a lone
surrogate cannot be encoded at all. :func:`printable` turns each such character into an escape
(``\\x1b``, ``\\n``, ``\\u202e``) that shows what was there and does nothing.

Every human output of the CLI (tables, plain lines, error lines) and every text log line goes
through it; JSON output and JSON logs need nothing more (``json.dumps`` escapes the same
characters itself).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

__all__ = ["UNPRINTABLE", "printable"]

_NAMED: Final = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}


def _ranges() -> list[int]:
    codes = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]  # C0, DEL, C1
    codes += [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]  # bidi embeddings and isolates
    codes += [0x2028, 0x2029]  # line and paragraph separators: str.splitlines() breaks there
    codes += range(0xD800, 0xE000)  # lone surrogates: no encoding can write them
    return codes


def _escape(code: int) -> str:
    if code in _NAMED:
        return _NAMED[code]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


#: The characters :func:`printable` escapes, each mapped to its escape.
UNPRINTABLE: Final[dict[int, str]] = {code: _escape(code) for code in _ranges()}
_KEEP_NEWLINES: Final = {code: text for code, text in UNPRINTABLE.items() if code != 0x0A}


def printable(value: object, *, newlines: bool = False) -> str:
    """``str(value)`` with every control character escaped visibly (``None`` gives ``""``).

    Escaped: C0 controls (tab, line feed and carriage return included), DEL, C1 controls, the
    bidi overrides, embeddings and isolates (U+202A-U+202E, U+2066-U+2069), the line and
    paragraph separators (U+2028, U+2029) and lone surrogates. A backslash already in the text
    stays as it is: the escape only ever makes text inert, it is not meant to be reversed.

    Args:
        newlines: keep line feeds (for text that is several lines by design, such as a
            traceback); every other control character is still escaped.
    """
    text = "" if value is None else str(value)
    if text.isprintable():  # the common case: nothing to escape, no copy
        return text
    return text.translate(_KEEP_NEWLINES if newlines else UNPRINTABLE)


def relative_time(value: datetime | None, now: datetime) -> str:
    """How far ahead ``value`` is, briefly: ``now``, ``in 12s``, ``in 4m``, ``in 3h``, ``in 2d``."""
    if value is None:
        return ""
    seconds = (value - now).total_seconds()
    if seconds <= 0:
        return "now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"in {seconds // size:.0f}{unit}"
    return f"in {seconds:.0f}s"


def duration(seconds: float) -> str:
    """A length of time, briefly, in its two largest units: ``45s``, ``12m``, ``3h 5m``, ``2d``."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    units = (("d", 86400), ("h", 3600), ("m", 60))
    parts: list[str] = []
    for unit, size in units:
        if whole >= size or parts:
            parts.append(f"{whole // size}{unit}")
            whole %= size
        if len(parts) == 2:
            break
    return " ".join(part for part in parts if not part.startswith("0") or part == parts[0])
