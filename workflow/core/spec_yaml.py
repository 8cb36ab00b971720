"""Reading YAML spec text safely: PyYAML's safe loading with the spec files' limits.

No anchors or aliases ("billion laughs"), no merge keys, no key given twice in one mapping,
nesting at most :data:`~workflow.core.validation.limits.MAX_DEPTH` deep, at most
:data:`~workflow.core.validation.limits.MAX_VALUES` values in one spec and
:data:`~workflow.core.validation.limits.MAX_SPECS_PER_FILE` specs in one file (counted while
composing, before the rest is built), numbers of at most
:data:`~workflow.core.validation.limits.MAX_NUMBER_CHARS` characters, and ``1:30`` read as text,
as YAML 1.2 reads it. libyaml scans and parses where PyYAML was built with it.
"""

from __future__ import annotations

import re
from typing import Any, Final, cast

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node

from workflow.core.redaction import redact
from workflow.core.spec_excerpts import DuplicateKeyError, Refused, located, one_line
from workflow.core.validation.limits import (
    MAX_DEPTH,
    MAX_NUMBER_CHARS,
    MAX_SPECS_PER_FILE,
    MAX_VALUES,
)

__all__ = ["C_PARSING", "PY_PARSING", "decode_yaml"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


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
                raise ConstructorError(None, None, str(DuplicateKeyError(key)), key_node.start_mark)
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


def decode_yaml(text: str) -> object:
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
            raise Refused(one_line(redact(problem))) from None
        raise Refused(located(text, mark.index, problem, context)) from None
    except yaml.YAMLError as exc:
        raise Refused(one_line(redact(str(exc)))) from None
    except (ValueError, LookupError, AttributeError, TypeError, ArithmeticError) as exc:
        # A constructor refusing a value: the date 2026-13-45, ``!!bool maybe``, ``!!int ""``.
        detail = one_line(redact(str(exc))) or type(exc).__name__
        raise Refused(f"a value cannot be read: {detail}") from None
    finally:
        if loader is not None:
            loader.dispose()  # type: ignore[attr-defined]
