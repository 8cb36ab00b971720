"""Spec files that cannot hurt: aliases, deep nesting, huge files and duplicate keys are refused.

Each hostile file is refused after a bounded amount of work and with a few MB of memory at most,
measured here by counting the function calls made (``sys.setprofile``) and with ``tracemalloc``,
so the bounds hold on a slow machine as on a fast one; ``onboarding validate`` prints one line
per problem and no traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import pytest

from workflow.core import spec_yaml
from workflow.core.errors import SpecError
from workflow.core.spec import load_documents, parse_documents, parse_spec

T = TypeVar("T")

#: The "billion laughs": nine levels of nine aliases, ~387 million strings once expanded.
BOMB = """\
key: bomb
profile:
  name: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
  i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""
DEEP_JSON = '{"key": "deep", "profile": ' + '{"a": ' * 500 + "1" + "}" * 500 + "}"
#: Peak Python allocations allowed while refusing a hostile file.
MEMORY_BOUND = 4 * 1024 * 1024
#: Function calls allowed while refusing a hostile file (reading a small valid spec takes a few
#: thousand); expanding the alias bomb or walking 500 levels by recursion would take millions.
CALL_BOUND = 50_000


def _measured(action: Callable[[], T], *, count_calls: bool = True) -> tuple[T, int, int]:
    """Run ``action``; return its result, the function calls it made (Python and C; 0 unless
    ``count_calls``: counting slows the action several times) and its peak traced memory."""
    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    tracemalloc.start()
    if count_calls:
        sys.setprofile(count)
    try:
        result = action()
    finally:
        sys.setprofile(None)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, calls, peak


def _refusal(
    path: Path, today: date, *, count_calls: bool = True, **kwargs: Any
) -> tuple[SpecError, int, int]:
    (specs, errors), calls, peak = _measured(
        lambda: parse_documents([path], today=today, **kwargs), count_calls=count_calls
    )
    assert specs == []
    assert len(errors) == 1
    return errors[0], calls, peak


@pytest.fixture(params=["libyaml", "python"])
def yaml_parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each YAML check runs with libyaml's parser (the default) and PyYAML's own."""
    if request.param == "python":
        loader = spec_yaml._loader(spec_yaml.PY_PARSING)
        monkeypatch.setattr(spec_yaml, "_SpecYamlLoader", loader)
    elif not spec_yaml.C_PARSING:
        pytest.skip("PyYAML was built without libyaml")
    return str(request.param)


def test_both_yaml_parsers_read_a_spec_file_alike(tmp_path: Path) -> None:
    """libyaml's parser and PyYAML's give the same documents (types, dates, unicode)."""
    path = tmp_path / "specs.yaml"
    path.write_text(
        "- key: k1\n  profile: {name: 'Café ✓', short_name: CAFE, count: 3, ok: true}\n"
        "  when: 2026-11-30\n  tags: [a, 'b', 1.5, null]\n- key: k2\n  note: |\n    two\n"
        "    lines\n",
        encoding="utf-8",
    )
    fast = load_documents(path)
    loader = spec_yaml._loader(spec_yaml.PY_PARSING)
    slow = loader(path.read_text(encoding="utf-8")).get_single_data()  # type: ignore[attr-defined]
    assert fast == slow
    assert fast[0]["profile"]["name"] == "Café ✓"  # type: ignore[index]
    assert fast[0]["when"] == date(2026, 11, 30)  # type: ignore[index]


@pytest.mark.usefixtures("yaml_parser")
@pytest.mark.timeout(30)
def test_yaml_alias_bomb_is_refused_fast_and_small(tmp_path: Path, today: date) -> None:
    """A 'billion laughs' YAML file is refused in a few hundred calls and a few MB, naming the line."""
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    assert path.stat().st_size < 600
    error, calls, peak = _refusal(path, today)
    assert calls < CALL_BOUND
    assert peak < MEMORY_BOUND
    assert [p.path for p in error.problems] == ["file"]
    message = error.problems[0].message
    assert "line 3" in message
    assert "anchors and aliases are not allowed" in message


@pytest.mark.usefixtures("yaml_parser")
def test_yaml_alias_alone_is_refused(tmp_path: Path) -> None:
    """Even one harmless anchor is refused: YAML aliases are not part of a spec."""
    path = tmp_path / "alias.yaml"
    path.write_text("key: k\nprofile: &p {name: n}\nother: *p\n")
    with pytest.raises(SpecError) as caught:
        load_documents(path)
    assert "line 2" in str(caught.value)
    assert "anchors and aliases are not allowed" in str(caught.value)


@pytest.mark.timeout(30)
def test_json_nested_500_deep_is_a_spec_error(tmp_path: Path, today: date) -> None:
    """JSON nested 500 deep is a SpecError (no RecursionError), in few calls and little memory."""
    path = tmp_path / "deep.json"
    path.write_text(DEEP_JSON)
    error, calls, peak = _refusal(path, today)
    assert calls < CALL_BOUND
    assert peak < MEMORY_BOUND
    assert "nested deeper than 32 levels" in error.problems[0].message
    assert "line 1" in error.problems[0].message


def test_json_nested_100000_deep_is_a_spec_error(tmp_path: Path) -> None:
    """Nesting far beyond the interpreter's recursion limit is refused before decoding."""
    path = tmp_path / "deeper.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SpecError) as caught:
        load_documents(path)
    assert "nested deeper than 32 levels" in str(caught.value)


def test_brackets_inside_json_strings_do_not_count_as_nesting(tmp_path: Path) -> None:
    """Brackets and escaped quotes inside strings are text, not nesting."""
    path = tmp_path / "brackets.json"
    path.write_text(json.dumps({"key": "k", "note": "[" * 100 + '\\"{' * 100}))
    assert load_documents(path)[0] == {"key": "k", "note": "[" * 100 + '\\"{' * 100}


@pytest.mark.usefixtures("yaml_parser")
@pytest.mark.timeout(30)
def test_yaml_nested_deeply_is_a_spec_error(tmp_path: Path) -> None:
    """YAML nested beyond the cap is refused, naming the line where the cap was crossed."""
    path = tmp_path / "deep.yaml"
    path.write_text("".join(f"{'  ' * level}a{level}:\n" for level in range(40)) + "  " * 40 + "x")
    with pytest.raises(SpecError) as caught:
        load_documents(path)
    assert "nested deeper than 32 levels" in str(caught.value)
    assert "line 33" in str(caught.value)


@pytest.mark.parametrize("depth", [500, 100_000])
def test_parse_spec_refuses_deep_objects_without_recursion(depth: int, today: date) -> None:
    """A library caller's deeply nested dict gets a SpecError, not a RecursionError."""
    inner: dict[str, Any] = {}
    raw: dict[str, Any] = {"key": "k", "profile": {"name": "n", "description": inner}}
    for _ in range(depth):
        inner["a"] = {}
        inner = inner["a"]
    with pytest.raises(SpecError) as caught:
        parse_spec(raw, today=today)
    assert caught.value.as_details() == {"spec": ["nested deeper than 32 levels"]}


def test_nesting_at_the_cap_is_accepted_by_the_loader(tmp_path: Path) -> None:
    """Exactly 32 levels load (the cap refuses the 33rd, not the 32nd)."""
    path = tmp_path / "at-cap.json"
    path.write_text("[" * 32 + "]" * 32)
    assert load_documents(path) != []
    path.write_text("[" * 33 + "]" * 33)
    with pytest.raises(SpecError):
        load_documents(path)


@pytest.mark.timeout(30)
def test_oversize_file_is_refused_before_it_is_read(tmp_path: Path, today: date) -> None:
    """A file over 10 MB is refused from its size alone: a few calls, and without reading it."""
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(11 * 1024 * 1024)
    error, calls, peak = _refusal(path, today)
    assert calls < CALL_BOUND
    assert peak < 1024 * 1024
    assert "larger than the 10485760-byte limit" in error.problems[0].message
    assert "ONBOARDING_MAX_SPEC_BYTES" in error.problems[0].message


def test_size_limit_is_a_parameter(tmp_path: Path) -> None:
    """load_documents(max_bytes=...) lowers the cap for one call."""
    path = tmp_path / "small.json"
    path.write_text(json.dumps({"key": "k", "pad": "x" * 200}))
    assert len(load_documents(path)) == 1
    with pytest.raises(SpecError) as caught:
        load_documents(path, max_bytes=100)
    assert "larger than the 100-byte limit" in str(caught.value)


def test_size_limit_comes_from_the_environment(
    tmp_path: Path, today: date, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ONBOARDING_MAX_SPEC_BYTES sets the cap; a value that is not a byte count is an error."""
    path = tmp_path / "small.json"
    path.write_text(json.dumps({"key": "k", "pad": "x" * 200}))
    monkeypatch.setenv("ONBOARDING_MAX_SPEC_BYTES", "100")
    _, errors = parse_documents([path], today=today)
    assert "larger than the 100-byte limit" in errors[0].problems[0].message
    monkeypatch.setenv("ONBOARDING_MAX_SPEC_BYTES", "lots")
    _, errors = parse_documents([path], today=today)
    assert errors[0].problems[0].path == "ONBOARDING_MAX_SPEC_BYTES"


def test_a_growing_or_special_file_is_read_no_further_than_the_cap(tmp_path: Path) -> None:
    """The cap holds for files whose size the directory does not tell (read stops at the cap)."""
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    with pytest.raises(SpecError) as caught:
        load_documents(Path("/dev/zero"), max_bytes=1000)
    assert "larger than the 1000-byte limit" in str(caught.value)


def test_duplicate_json_key_is_an_error(tmp_path: Path) -> None:
    """A JSON object naming a key twice is refused, naming the key (not last-one-wins)."""
    path = tmp_path / "dup.json"
    path.write_text('{"key": "a", "profile": {"name": "x", "name": "y"}}')
    with pytest.raises(SpecError) as caught:
        load_documents(path)
    assert "duplicate key 'name'" in str(caught.value)


@pytest.mark.usefixtures("yaml_parser")
def test_duplicate_yaml_key_is_an_error_naming_the_line(tmp_path: Path) -> None:
    """A YAML mapping naming a key twice is refused, naming the key and its line."""
    path = tmp_path / "dup.yaml"
    path.write_text("key: a\nprofile:\n  name: x\n  short_name: SALES\n  name: y\n")
    with pytest.raises(SpecError) as caught:
        load_documents(path)
    assert "line 5" in str(caught.value)
    assert "duplicate key 'name'" in str(caught.value)


def test_same_key_in_different_mappings_is_fine(tmp_path: Path) -> None:
    """Only duplicates inside one mapping are refused."""
    path = tmp_path / "ok.yaml"
    path.write_text("- {key: a, profile: {name: x}}\n- {key: b, profile: {name: x}}\n")
    assert len(load_documents(path)) == 2


def _run_validate(*paths: Path) -> dict[str, Any]:
    """Run 'onboarding validate' in a child process; report its output, exit code and peak RSS."""
    wrapper = (
        "import json, resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(json.dumps({'rc': done.returncode, 'out': done.stdout, 'err': done.stderr,"
        " 'rss_kb': rss}))\n"
    )
    command = [sys.executable, "-c", wrapper, sys.executable, "-m", "workflow", "validate"]
    done = subprocess.run(
        [*command, *map(str, paths)], capture_output=True, text=True, check=True, timeout=150
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.timeout(150)
def test_validate_refuses_hostile_files_with_one_line_each(tmp_path: Path) -> None:
    """'onboarding validate' refuses the bomb, the deep JSON and the huge file: one line each."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    deep = tmp_path / "deep.json"
    deep.write_text(DEEP_JSON)
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as handle:
        handle.truncate(11 * 1024 * 1024)
    result = _run_validate(bomb, deep, huge)
    assert result["rc"] == 1
    assert "Traceback" not in result["out"] + result["err"]
    lines = result["out"].splitlines()
    assert lines[0::2] == [
        f"{bomb}: 1 problem(s)",
        f"{deep}: 1 problem(s)",
        f"{huge}: 1 problem(s)",
    ]
    problems = lines[1::2]
    assert all(line.startswith("  file: cannot read ") for line in problems)
    assert "anchors and aliases" in problems[0]
    assert "nested deeper" in problems[1]
    assert "larger than" in problems[2]
    # The whole interpreter (imports included) stays small: the hostile input added nothing.
    assert result["rss_kb"] < 150 * 1024


def test_yaml_value_that_cannot_be_built_is_a_spec_error(tmp_path: Path) -> None:
    """A YAML date that does not exist (2026-13-45) is a one-line SpecError, not a traceback."""
    path = tmp_path / "date.yaml"
    path.write_text("key: k\nprofile:\n  name: 2026-13-45\n")
    with pytest.raises(SpecError) as caught:
        load_documents(path)
    assert "a value cannot be read: month must be in 1..12" in str(caught.value)


def test_error_excerpts_hold_no_control_characters(tmp_path: Path) -> None:
    """A terminal escape sequence on the broken line is not echoed to the terminal."""
    path = tmp_path / "escape.json"
    path.write_text('{"key": "k\x1b[2J", "x": ]}')
    with pytest.raises(SpecError) as caught:
        load_documents(path)
    assert "\x1b" not in str(caught.value)
    assert "line 1" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "text", "secrets"),
    [
        ("token after a tab", 'key: k\nwhatsapp:\n  access_token:\n\t"EAAsecretTOKENzz9"\n',
         ["EAAsecret", "TOKENzz9"]),
        ("cvc after a tab", 'key: k\npayment_details:\n  cvc:\n\t"987"\n', ["987"]),
        ("pretty JSON", '{"key": "k", "payment_details": {"cvc":\n  "987" x, "a": 1}}\n', ["987"]),
        ("card over lines", "key: k\npayment_details:\n  card_number: 4111\n  1111 1111 11: [\n",
         ["4111", "1111"]),
        ("token over lines", 'key: k\nwhatsapp:\n  access_token: "EAAsecret\n  TOKENzz9\\q"\n',
         ["EAAsecret", "TOKENzz9"]),
    ],
)  # fmt: skip
def test_an_error_on_a_line_continuing_a_secret_quotes_none_of_it(
    tmp_path: Path, name: str, text: str, secrets: list[str]
) -> None:
    """A secret's value may sit on the lines after its field name (a tab before it, JSON pretty
    printed, a value broken over lines): the error names the line but quotes none of it."""
    path = tmp_path / ("spec.json" if text.startswith("{") else "spec.yaml")
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_documents(path)
    message = str(caught.value)
    assert "line " in message, name
    for secret in secrets:
        assert secret not in message, (name, message)


@pytest.mark.usefixtures("yaml_parser")
def test_base_60_numbers_are_text(tmp_path: Path) -> None:
    """YAML 1.1 reads ``1:30`` as the base-60 integer 90 (in time quadratic in its length); a
    spec reads it as text, as YAML 1.2 does. Explicit numbers are capped at 100 characters."""
    path = tmp_path / "sexagesimal.yaml"
    path.write_text("x: 1" + ":00" * 300 + "\ntime: 1:30\nport: 8080\nrate: 0.5\n")
    [document] = load_documents(path)
    assert document == {"x": "1" + ":00" * 300, "time": "1:30", "port": 8080, "rate": 0.5}
    path.write_text("x: !!int 1" + ":00" * 300 + "\n")
    with pytest.raises(SpecError, match="a number longer than 100 characters"):
        load_documents(path)


@pytest.mark.timeout(30)
def test_a_long_base_60_looking_value_is_read_fast(tmp_path: Path) -> None:
    """300,000 base-60 groups (900 KB) took 14 s as an integer; as text, a few hundred calls."""
    path = tmp_path / "sexagesimal.yaml"
    path.write_text("x: 1" + ":00" * 300_000 + "\n")
    documents, calls, _ = _measured(lambda: load_documents(path))
    assert calls < CALL_BOUND
    assert isinstance(documents[0]["x"], str)  # type: ignore[index]


@pytest.mark.timeout(60)
def test_too_many_values_are_refused_while_composing(tmp_path: Path) -> None:
    """A mapping of 300,000 keys is refused at the 100,000-value cap, before the rest is built:
    memory stays bounded (a 9 MB file of 900,000 keys took 877 MB)."""
    path = tmp_path / "keys.yaml"
    path.write_text("".join(f"k{i}: 1\n" for i in range(300_000)))
    error, _calls, peak = _refusal(path, date(2026, 11, 30), count_calls=False)
    assert "one spec holds more than 100000 values" in error.problems[0].message
    assert peak < 200 * 1024 * 1024


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_too_many_specs_in_one_file_are_refused(tmp_path: Path, suffix: str) -> None:
    """A file is a list of at most 10,000 specs; past that it is refused before any is read."""
    path = tmp_path / f"many{suffix}"
    path.write_text("[" + ",".join(["1"] * 10_001) + "]")
    with pytest.raises(SpecError, match="holds more than 10000 specs"):
        load_documents(path)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("!!bool maybe", "not a valid bool"),
        ("!!timestamp x", "not a valid timestamp"),
        ('!!int ""', "not a valid int"),
        ('!!float ""', "not a valid float"),
    ],
)
@pytest.mark.usefixtures("yaml_parser")
def test_tagged_values_that_cannot_be_built_are_one_line_errors(
    tmp_path: Path, value: str, reason: str
) -> None:
    """Values their explicit tag cannot build are refused with the line, not a traceback."""
    path = tmp_path / "tagged.yaml"
    path.write_text(f"key: k\nprofile:\n  name: {value}\n")
    with pytest.raises(SpecError) as caught:
        load_documents(path)
    assert f"line 3, column 9: a value cannot be read: {reason}" in str(caught.value)


def test_a_json_integer_too_long_to_read_is_a_one_line_error(tmp_path: Path) -> None:
    """An integer of 5,000 digits (past Python's conversion limit) is a SpecError."""
    path = tmp_path / "digits.json"
    path.write_text('{"key": "k", "name": ' + "1" * 5000 + "}")
    with pytest.raises(SpecError, match="a value cannot be read"):
        load_documents(path)


@pytest.mark.usefixtures("yaml_parser")
def test_yaml_merge_keys_are_refused(tmp_path: Path) -> None:
    """``<<`` would let one mapping carry a key twice (two card numbers in one spec)."""
    path = tmp_path / "merge.yaml"
    path.write_text('key: k\npayment_details: {<<: {card_number: "4000000000000002"}, cvc: 1}\n')
    with pytest.raises(SpecError) as caught:
        load_documents(path)
    assert "merge keys (<<) are not allowed" in str(caught.value)
    assert "4000000000000002" not in str(caught.value)


@pytest.mark.usefixtures("yaml_parser")
@pytest.mark.parametrize("character", ["\x00", "\x7f", "\ufffe"])
def test_unprintable_characters_are_one_line_errors(tmp_path: Path, character: str) -> None:
    """Characters YAML does not allow in a stream are refused as spec errors by both parsers."""
    path = tmp_path / "odd.yaml"
    path.write_text(f"key: k{character}\n", encoding="utf-8")
    with pytest.raises(SpecError, match="cannot read"):
        load_documents(path)
