"""Field rules shared by the profile, brand and campaign checks: types, sizes, known names.

An object's fields are described by a schema, a mapping from the API's field name to a rule:
:class:`Text` (a string up to a length), :class:`Flag` (a real boolean), :class:`Choice` (one
of an enumeration) or :class:`Custom` (known, but checked by the caller). :func:`check_fields`
reports every field the schema does not name as ``unknown field`` and every typed field that
breaks its rule. Types are the JSON types the API declares: ``"true"`` is not a boolean, ``1``
is not a boolean, ``123`` is not a string. No message ever quotes the value it refuses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from workflow.core.errors import Problem
from workflow.core.printable import printable
from workflow.core.validation.limits import MAX_IDEMPOTENCY_KEY_CHARS, MAX_LIST_ITEMS

__all__ = [
    "UNKNOWN_FIELD",
    "Choice",
    "Custom",
    "Flag",
    "Rule",
    "Text",
    "as_list",
    "as_object",
    "blank",
    "check_fields",
    "field_name",
    "join",
    "unstorable_text",
    "validate_idempotency_key",
]

UNKNOWN_FIELD: Final = "unknown field"
LONE_SURROGATE: Final = (
    "holds a lone surrogate (a \\ud800-\\udfff escape without its pair), which is not text: "
    "no database or API can store it; write the character itself, or its full surrogate pair"
)
NUL_CHARACTER: Final = (
    "holds a NUL character (\\u0000 or \\0), which no database stores in text; remove it"
)
# A lone surrogate (JSON's "\ud800", YAML's "\ud800" in the pure-Python parser) or a NUL.
_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")
#: How much of an unknown field's name a problem path shows.
MAX_SHOWN_NAME: Final = 64
IDEMPOTENCY_KEY_RULE: Final = "must be 1–255 characters: letters, digits, hyphens or underscores"
# fullmatch everywhere: with re.match, "$" also matches before a trailing newline.
_IDEMPOTENCY_KEY = re.compile(rf"[a-zA-Z0-9_-]{{1,{MAX_IDEMPOTENCY_KEY_CHARS}}}")


@dataclass(frozen=True, slots=True)
class Text:
    """A string of at most ``max_chars``; ``required``: present, non-null and not blank."""

    max_chars: int
    required: bool = False


@dataclass(frozen=True, slots=True)
class Flag:
    """A real boolean; ``nullable=False`` where the API does not accept ``null``."""

    nullable: bool = True


@dataclass(frozen=True, slots=True)
class Choice:
    """One of an enumeration's values (the API's enums are strings)."""

    allowed: tuple[str, ...]
    required: bool = False


@dataclass(frozen=True, slots=True)
class Custom:
    """A known field whose rule the caller checks (objects, lists, special formats)."""


Rule = Text | Flag | Choice | Custom


def join(prefix: str, name: str) -> str:
    """A field path: ``prefix.name``, or ``name`` at the top level."""
    return f"{prefix}.{name}" if prefix else name


def _unstorable(text: str) -> str | None:
    """The rule ``text`` breaks (:data:`LONE_SURROGATE`, :data:`NUL_CHARACTER`), if any."""
    if text.isascii():  # known without reading the text: only a NUL can be there
        return NUL_CHARACTER if "\x00" in text else None
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return NUL_CHARACTER if found.group() == "\x00" else LONE_SURROGATE


def unstorable_text(document: object) -> list[Problem]:
    """Every string of a decoded document (field names too) that holds a lone surrogate or a
    NUL character, each named by its field path; the value is never quoted.

    Either breaks far from where it was written: a lone surrogate cannot be encoded as UTF-8 (the
    create's request body, a database text column), and PostgreSQL refuses a NUL in text. So
    they are refused with the spec. Walks with an explicit stack: call it after the document's
    depth and size were checked (:func:`~workflow.core.validation.limits.structure_problem`).
    """
    problems: list[Problem] = []
    stack: list[tuple[object, str]] = [(document, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            rule = _unstorable(node)
            if rule is not None:
                problems.append(Problem(path or "spec", f"{path or 'the spec'} {rule}"))
        elif isinstance(node, Mapping):
            children: list[tuple[object, str]] = []
            for key, value in node.items():
                name = key if isinstance(key, str) else repr(key)
                shown = join(path, printable(field_name(name)))
                if _unstorable(name) is not None:
                    children.append((name, shown))
                children.append((value, shown))
            stack.extend(reversed(children))  # popped in the document's order
        elif isinstance(node, list | tuple):
            stack.extend((node[i], f"{path}[{i}]") for i in reversed(range(len(node))))
    return problems


def field_name(key: object) -> str:
    """A field name as a path shows it, cut short (an unknown name may be any size)."""
    text = key if isinstance(key, str) else repr(key)
    return text if len(text) <= MAX_SHOWN_NAME else text[:MAX_SHOWN_NAME] + "…"


def blank(value: object) -> bool:
    """``None``, or a string holding only whitespace."""
    return value is None or (isinstance(value, str) and not value.strip())


def as_object(value: object, path: str, problems: list[Problem]) -> Mapping[str, Any] | None:
    """The value as a JSON object, or ``None`` (with a problem when it is something else)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value
    problems.append(Problem(path, f"{path} must be an object"))
    return None


def as_list(
    value: object, path: str, problems: list[Problem], *, max_items: int = MAX_LIST_ITEMS
) -> Sequence[Any] | None:
    """The value as a JSON list of at most ``max_items``, or ``None`` (with a problem if not)."""
    if value is None:
        return None
    if not isinstance(value, list):
        problems.append(Problem(path, f"{path} must be a list"))
        return None
    if len(value) > max_items:
        problems.append(Problem(path, f"{path} must hold at most {max_items} items"))
        return None
    return value


def _check(value: object, present: bool, path: str, rule: Rule) -> Problem | None:
    if isinstance(rule, Text):
        if value is None:
            return Problem(path, f"{path} is required") if rule.required else None
        if not isinstance(value, str):
            return Problem(path, f"{path} must be a string")
        # Length first: a huge value is refused before anything scans it.
        if len(value) > rule.max_chars:
            return Problem(path, f"{path} must be at most {rule.max_chars} characters")
        if rule.required and not value.strip():
            return Problem(path, f"{path} is required")
        return None
    if isinstance(rule, Flag):
        if isinstance(value, bool) or (value is None and (rule.nullable or not present)):
            return None
        return Problem(path, f"{path} must be true or false")
    if isinstance(rule, Choice):
        if blank(value):
            return Problem(path, f"{path} is required") if rule.required else None
        if value in rule.allowed:
            return None
        return Problem(path, f"{path} must be one of: {', '.join(rule.allowed)}")
    return None


def check_fields(
    obj: Mapping[Any, Any], prefix: str, schema: Mapping[str, Rule], problems: list[Problem]
) -> None:
    """Append a problem for every unknown field of ``obj`` and every field breaking its rule.

    Args:
        obj: the JSON object, as decoded.
        prefix: the object's path (``brand.contact``); ``""`` at the top level.
        schema: every field the API defines for this object, with its rule.
        problems: where the problems go, in schema order after the unknown fields.
    """
    for key in obj:
        if key not in schema:
            problems.append(Problem(join(prefix, field_name(key)), UNKNOWN_FIELD))
    for name, rule in schema.items():
        found = _check(obj.get(name), name in obj, join(prefix, name), rule)
        if found is not None:
            problems.append(found)


def validate_idempotency_key(key: object, path: str = "Idempotency-Key") -> list[Problem]:
    """Check an Idempotency-Key against ``^[a-zA-Z0-9_-]+$``, 1 to 255 characters, whole."""
    if isinstance(key, str) and _IDEMPOTENCY_KEY.fullmatch(key):
        return []
    return [Problem(path, f"{path} {IDEMPOTENCY_KEY_RULE}")]
