"""Reading spec files (JSON or YAML) so that no file can hurt the reader.

* Size: a file over the cap (:data:`~workflow.core.validation.limits.MAX_SPEC_BYTES`, or
  ``ONBOARDING_MAX_SPEC_BYTES``, or the ``max_bytes`` argument) is refused from its size,
  before it is read; reading stops at the cap for files whose size the system does not know.
* Depth: nesting past :data:`~workflow.core.validation.limits.MAX_DEPTH` is refused before the
  decoder's recursion could fail (JSON: a scan of the text; YAML: counted while composing).
* YAML anchors and aliases are refused outright: they are how a few hundred bytes expand
  into gigabytes ("billion laughs"), and a spec has no use for them.
* A key given twice in one mapping is an error, not last-one-wins; YAML merge keys (``<<``),
  which would let a mapping carry a key twice, are refused.
* Counts: at most :data:`~workflow.core.validation.limits.MAX_VALUES` values in one spec and
  :data:`~workflow.core.validation.limits.MAX_SPECS_PER_FILE` specs in one file, counted while YAML
  is composed (refused before the rest is built) and right after JSON is decoded; numbers are at
  most :data:`~workflow.core.validation.limits.MAX_NUMBER_CHARS` characters, and ``1:30`` is text,
  not a base-60 integer (as YAML 1.2 reads it: base 60 is slow to build and no field is one).
* A value no constructor can build (``!!bool maybe``, ``!!int ""``) is a one-line error.
* YAML is scanned and parsed by libyaml (PyYAML's C parser) where PyYAML was built with it,
  about ten times faster than the pure-Python parser; composing the nodes (where the depth,
  alias and key checks live) stays in Python either way.
* Every excerpt of the file in a message is redacted (:func:`workflow.core.redaction.redact`) and
  kept on one line; library errors are not chained, as they quote the file unredacted.

The YAML reader lives in :mod:`workflow.core.spec_yaml`, the messages' excerpts in
:mod:`workflow.core.spec_excerpts`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Final

from workflow.core.errors import Problem, SpecError
from workflow.core.redaction import redact
from workflow.core.spec_excerpts import DuplicateKeyError, Refused, located, one_line
from workflow.core.validation.fields import field_name
from workflow.core.validation.limits import (
    MAX_DEPTH,
    MAX_SPEC_BYTES,
    MAX_SPECS_PER_FILE,
    json_nesting_overflow,
)

__all__ = ["MAX_SPEC_BYTES_ENV", "decode_json_text", "load_documents", "spec_size_limit"]

MAX_SPEC_BYTES_ENV: Final = "ONBOARDING_MAX_SPEC_BYTES"
_CHUNK_BYTES = 64 * 1024


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


def _read_capped(file: Path, limit: int) -> bytes:
    too_big = f"it is larger than the {limit}-byte limit (set {MAX_SPEC_BYTES_ENV} to change it)"
    try:
        with file.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size > limit:
                raise Refused(too_big)
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
        raise Refused(exc.strerror or type(exc).__name__) from None
    if len(data) > limit:
        raise Refused(too_big)
    return data


def _decode_json(text: str) -> object:
    overflow = json_nesting_overflow(text)
    if overflow is not None:
        raise Refused(located(text, overflow, f"nested deeper than {MAX_DEPTH} levels"))
    try:
        loaded = json.loads(text, object_pairs_hook=_unique_object)
    except DuplicateKeyError as exc:
        raise Refused(redact(str(exc))) from None
    except json.JSONDecodeError as exc:
        raise Refused(located(text, exc.pos, exc.msg)) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4300 digits
        raise Refused(f"a value cannot be read: {one_line(redact(str(exc)))}") from None
    if isinstance(loaded, list) and len(loaded) > MAX_SPECS_PER_FILE:
        raise Refused(f"it holds more than {MAX_SPECS_PER_FILE} specs")
    return loaded


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKeyError(key)
        result[key] = value
    return result


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
            raise Refused(f"it is not UTF-8 text (byte {exc.start})") from None
        loaded = _decode_json(text) if file.suffix.lower() == ".json" else _decode_yaml(text)
    except Refused as exc:
        raise SpecError([Problem("file", f"cannot read {file}: {exc}")], source=str(file)) from None
    return list(loaded) if isinstance(loaded, list) else [loaded]


def _decode_yaml(text: str) -> object:
    # PyYAML loads with the first YAML file: a worker, which reads stored specs, never does.
    from workflow.core.spec_yaml import decode_yaml

    return decode_yaml(text)


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
            raise Refused(
                f"it is larger than the {limit}-byte limit (set {MAX_SPEC_BYTES_ENV} to change it)"
            )
        if isinstance(data, str):
            text = data
        else:
            try:
                text = bytes(data).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise Refused(f"it is not UTF-8 text (byte {exc.start})") from None
        if not text.strip():
            raise Refused("it is empty")
        return _decode_json(text)
    except Refused as exc:
        raise SpecError([Problem("spec", f"not valid JSON: {exc}")]) from None
