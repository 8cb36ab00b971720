"""Reading spec files (JSON or YAML) so that no file can hurt the reader.

* Size: a file over the cap (:data:`~workflow.validation.limits.MAX_SPEC_BYTES`, or
  ``ONBOARDING_MAX_SPEC_BYTES``, or the ``max_bytes`` argument) is refused from its size,
  before it is read; reading stops at the cap for files whose size the system does not know.
* Depth: nesting past :data:`~workflow.validation.limits.MAX_DEPTH` is refused before the
  decoder's recursion could fail (JSON: a scan of the text; YAML: counted while composing).
* YAML anchors and aliases are refused outright: they are how a few hundred bytes expand
  into gigabytes ("billion laughs"), and a spec has no use for them.
* A key given twice in one mapping is an error, not last-one-wins; YAML merge keys (``<<``),
  which would let a mapping carry a key twice, are refused.
* Counts: at most :data:`~workflow.validation.limits.MAX_VALUES` values in one spec and
  :data:`~workflow.validation.limits.MAX_SPECS_PER_FILE` specs in one file, counted while YAML is
  composed (refused before the rest is built) and right after JSON is decoded; numbers are at
  most :data:`~workflow.validation.limits.MAX_NUMBER_CHARS` characters, and ``1:30`` is text, not
  a base-60 integer (as YAML 1.2 reads it: base 60 is slow to build and no field is one).
* A value no constructor can build (``!!bool maybe``, ``!!int ""``) is a one-line error.
* YAML is scanned and parsed by libyaml (PyYAML's C parser) where PyYAML was built with it,
  about ten times faster than the pure-Python parser; composing the nodes (where the depth,
  alias and key checks live) stays in Python either way.
* Every excerpt of the file in a message is redacted (:func:`workflow.redaction.redact`) and
  kept on one line; library errors are not chained, as they quote the file unredacted.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Final, cast

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node

from workflow.errors import Problem, SpecError
from workflow.redaction import mentions_secret, redact
from workflow.validation.fields import field_name
from workflow.validation.limits import (
    MAX_DEPTH,
    MAX_NUMBER_CHARS,
    MAX_SPEC_BYTES,
    MAX_SPECS_PER_FILE,
    MAX_VALUES,
    json_nesting_overflow,
)

__all__ = ["MAX_SPEC_BYTES_ENV", "decode_json_text", "load_documents", "spec_size_limit"]

MAX_SPEC_BYTES_ENV: Final = "ONBOARDING_MAX_SPEC_BYTES"
#: How much of the offending line a message quotes, either side of the error.
EXCERPT_CHARS: Final = 80
_MERGE_TAG = "tag:yaml.org,2002:merge"
_CHUNK_BYTES = 64 * 1024


class _DuplicateKeyError(ValueError):
    def __init__(self, key: object) -> None:
        super().__init__(f"duplicate key {field_name(key)!r}")


# The C parser's events drive the Python composer: ``Composer`` comes first in the bases, so
# its ``compose_node`` (overridden below) builds the nodes, not the C parser's own composer.
C_PARSING: Final[tuple[type, ...]] = (
    (yaml.cyaml.CParser,) if yaml.__with_libyaml__ else ()  # type: ignore[attr-defined]
)
PY_PARSING: Final = (yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser)


class _SpecComposer(
    yaml.composer.Composer, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
):
    """PyYAML's safe loading without anchors and aliases, with a depth cap and unique keys."""

    #: The parser classes mixed in after this one (see :func:`_loader`).
    parsing: tuple[type, ...] = ()

    def __init__(self, stream: str) -> None:
        for parser in type(self).parsing:
            init = cast(Any, parser).__init__
            if parser is yaml.reader.Reader or parser in C_PARSING:
                init(self, stream)
            else:
                init(self)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._depth = 0
        self._values = 0
        self._specs = 0
        self._root_is_list = False

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[attr-defined]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise ComposerError(
                None, None, "YAML anchors and aliases are not allowed in a spec", event.start_mark
            )
        opens = isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent)
        if self._depth == 0:
            self._root_is_list = isinstance(event, yaml.SequenceStartEvent)
        elif self._depth == 1 and self._root_is_list:  # the next spec of a list
            self._specs += 1
            self._values = 0
            if self._specs > MAX_SPECS_PER_FILE:
                raise ComposerError(
                    None, None, f"holds more than {MAX_SPECS_PER_FILE} specs", event.start_mark
                )
        self._values += 1
        if self._values > MAX_VALUES:
            raise ComposerError(
                None, None, f"one spec holds more than {MAX_VALUES} values", event.start_mark
            )
        if opens:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark
                )
        try:
            return super().compose_node(parent, index)
        finally:
            if opens:
                self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, LookupError, AttributeError, TypeError, ArithmeticError) as exc:
            # A value its tag cannot build: 2026-13-45, ``!!bool maybe``, ``!!int ""``.
            kind = str(node.tag).rpartition(":")[2] or "value"
            said = str(exc).strip().splitlines()
            reason = (
                redact(said[0])
                if said and isinstance(exc, ValueError | ArithmeticError)
                else f"not a valid {kind}"
            )
            raise ConstructorError(
                None, None, f"a value cannot be read: {reason}", node.start_mark
            ) from None

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                raise ConstructorError(
                    None, None, "YAML merge keys (<<) are not allowed in a spec",
                    key_node.start_mark,
                )  # fmt: skip
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if duplicate:
                raise ConstructorError(
                    None, None, str(_DuplicateKeyError(key)), key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def _short_number(loader: Any, node: Node, build: Any) -> Any:
    if len(str(node.value)) > MAX_NUMBER_CHARS:
        raise ConstructorError(
            None, None, f"a number longer than {MAX_NUMBER_CHARS} characters", node.start_mark
        )
    return build(loader, node)


_SpecComposer.add_constructor(
    "tag:yaml.org,2002:int",
    lambda loader, node: _short_number(
        loader, node, yaml.constructor.SafeConstructor.construct_yaml_int
    ),
)
_SpecComposer.add_constructor(
    "tag:yaml.org,2002:float",
    lambda loader, node: _short_number(
        loader, node, yaml.constructor.SafeConstructor.construct_yaml_float
    ),
)
# YAML 1.1's implicit resolvers, except base-60 numbers (``1:30`` read as 90): those are text,
# as YAML 1.2 reads them.
_INT: Final = re.compile(
    r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"
)
_FLOAT: Final = re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_SpecComposer.yaml_implicit_resolvers = {
    first: [
        (tag, _INT if tag.endswith(":int") else _FLOAT if tag.endswith(":float") else regexp)
        for tag, regexp in resolvers
    ]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}


def _loader(parsing: tuple[type, ...]) -> type[_SpecComposer]:
    # The composer (and its checks) before the parser: the C parser has a composer of its own.
    return type("SpecYamlLoader", (_SpecComposer, *parsing), {"parsing": parsing})


#: The loader: libyaml's parser when PyYAML has it, else PyYAML's own.
_SpecYamlLoader: Final = _loader(C_PARSING or PY_PARSING)


def spec_size_limit(max_bytes: int | None = None) -> int:
    """The byte cap for one spec file: ``max_bytes``, else the environment, else 10 MB.

    Raises:
        SpecError: ``ONBOARDING_MAX_SPEC_BYTES`` is set but is not a positive whole number.
    """
    if max_bytes is not None:
        return max_bytes
    raw = os.environ.get(MAX_SPEC_BYTES_ENV)
    if raw is None or not raw.strip():
        return MAX_SPEC_BYTES
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise SpecError(
            [
                Problem(
                    MAX_SPEC_BYTES_ENV,
                    f"{MAX_SPEC_BYTES_ENV} must be a positive whole number of bytes "
                    f"(it is {field_name(raw)!r})",
                )
            ]
        )
    return limit


def _printable(text: str) -> str:
    """``text`` on one line, control characters (terminal escapes too) turned into spaces."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _one_line(text: str, max_chars: int = 2 * EXCERPT_CHARS) -> str:
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
    A line naming a secret itself is left to :func:`~workflow.redaction.redact`.
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


def _located(text: str, index: int, problem: str, context: str | None = None) -> str:
    start = text.rfind("\n", 0, index) + 1
    line = text.count("\n", 0, index) + 1
    message = f"line {line}, column {index - start + 1}: {_one_line(redact(problem))}"
    if context:
        message += f" ({_one_line(redact(context))})"
    excerpt = _excerpt(text, index)
    return f"{message}; the line reads: {excerpt}" if excerpt else message


def _read_capped(file: Path, limit: int) -> bytes:
    too_big = f"it is larger than the {limit}-byte limit (set {MAX_SPEC_BYTES_ENV} to change it)"
    try:
        with file.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size > limit:
                raise _Refused(too_big)
            # In chunks (read(n) would allocate all n bytes up front), and one byte past
            # the cap at most: that byte tells an oversize special or growing file.
            chunks: list[bytes] = []
            total = 0
            while total <= limit:
                chunk = handle.read(min(_CHUNK_BYTES, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            data = b"".join(chunks)
    except OSError as exc:
        raise _Refused(exc.strerror or type(exc).__name__) from None
    if len(data) > limit:
        raise _Refused(too_big)
    return data


class _Refused(Exception):
    """A file-level problem, turned into a SpecError naming the file."""


def _decode_json(text: str) -> object:
    overflow = json_nesting_overflow(text)
    if overflow is not None:
        raise _Refused(_located(text, overflow, f"nested deeper than {MAX_DEPTH} levels"))
    try:
        loaded = json.loads(text, object_pairs_hook=_unique_object)
    except _DuplicateKeyError as exc:
        raise _Refused(redact(str(exc))) from None
    except json.JSONDecodeError as exc:
        raise _Refused(_located(text, exc.pos, exc.msg)) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4300 digits
        raise _Refused(f"a value cannot be read: {_one_line(redact(str(exc)))}") from None
    if isinstance(loaded, list) and len(loaded) > MAX_SPECS_PER_FILE:
        raise _Refused(f"it holds more than {MAX_SPECS_PER_FILE} specs")
    return loaded


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _decode_yaml(text: str) -> object:
    loader = None
    try:
        loader = _SpecYamlLoader(text)
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "not valid YAML"
        context = None
        if exc.context and exc.problem and exc.context_mark is not None:
            context = f"{exc.context} started on line {exc.context_mark.line + 1}"
        if mark is None:
            raise _Refused(_one_line(redact(problem))) from None
        raise _Refused(_located(text, mark.index, problem, context)) from None
    except yaml.YAMLError as exc:
        raise _Refused(_one_line(redact(str(exc)))) from None
    except (ValueError, LookupError, AttributeError, TypeError, ArithmeticError) as exc:
        # A constructor refusing a value: the date 2026-13-45, ``!!bool maybe``, ``!!int ""``.
        detail = _one_line(redact(str(exc))) or type(exc).__name__
        raise _Refused(f"a value cannot be read: {detail}") from None
    finally:
        if loader is not None:
            loader.dispose()  # type: ignore[attr-defined]


def load_documents(path: str | Path, *, max_bytes: int | None = None) -> list[object]:
    """Read one spec or a list of specs from a ``.json``, ``.yaml`` or ``.yml`` file.

    Args:
        path: the file.
        max_bytes: the size cap; default ``ONBOARDING_MAX_SPEC_BYTES`` or 10 MB.

    Raises:
        SpecError: the file cannot be read, is too big, too deep, not valid JSON/YAML, uses
            YAML anchors or aliases, or repeats a key in one mapping (named with its path;
            one line, secrets redacted).
    """
    file = Path(path)
    try:
        limit = spec_size_limit(max_bytes)
    except SpecError as exc:
        raise SpecError(exc.problems, source=str(file)) from None
    try:
        data = _read_capped(file, limit)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Refused(f"it is not UTF-8 text (byte {exc.start})") from None
        loaded = _decode_json(text) if file.suffix.lower() == ".json" else _decode_yaml(text)
    except _Refused as exc:
        raise SpecError([Problem("file", f"cannot read {file}: {exc}")], source=str(file)) from None
    return list(loaded) if isinstance(loaded, list) else [loaded]


def decode_json_text(data: str | bytes | bytearray, *, max_bytes: int | None = None) -> object:
    """Decode JSON text given in memory (``str`` or UTF-8 bytes) with the file rules.

    The same size cap, depth limit and duplicate-key check as :func:`load_documents`.

    Raises:
        SpecError: one problem at path ``spec`` naming what is wrong (too big, not UTF-8,
            not valid JSON with its line and column, too deep, a repeated key), secrets
            redacted.
    """
    try:
        limit = spec_size_limit(max_bytes)
        size = len(data) if not isinstance(data, str) else len(data.encode("utf-8", "replace"))
        if size > limit:
            raise _Refused(
                f"it is larger than the {limit}-byte limit (set {MAX_SPEC_BYTES_ENV} to change it)"
            )
        if isinstance(data, str):
            text = data
        else:
            try:
                text = bytes(data).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _Refused(f"it is not UTF-8 text (byte {exc.start})") from None
        if not text.strip():
            raise _Refused("it is empty")
        return _decode_json(text)
    except _Refused as exc:
        raise SpecError([Problem("spec", f"not valid JSON: {exc}")]) from None
