"""Spec text that cannot be stored or sent (lone surrogates, NUL) is refused with its field path."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.cli_process import environment, run
from tests.test_spec_files import yaml_parser  # noqa: F401  (the fixture, both YAML parsers)
from workflow.core.errors import SpecError
from workflow.core.spec import parse_documents, parse_spec


def _with(raw: dict[str, Any], **changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(raw)
    spec["profile"].update(changes)
    return spec


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ('"Support \\ud800 team"', "profile.description", "lone surrogate"),
        ('"Support \\udfff"', "profile.description", "lone surrogate"),
        ('"Support \\u0000 team"', "profile.description", "NUL character"),
    ],
)
def test_a_json_spec_with_unstorable_text_is_refused_by_validate_and_start(
    tmp_path: Path, samples: dict[str, Any], text: str, path: str, words: str
) -> None:
    """The escape in a JSON file: validate and start exit 1 naming the field and the rule,
    with no traceback, and start stores nothing (not even the database)."""
    document = json.dumps(samples["demo-inherited"])
    document = document.replace('"Customer support profile"', text)
    assert text in document
    spec = tmp_path / "spec.json"
    spec.write_text(document)
    db = f"sqlite:///{tmp_path / 'onboarding.db'}"
    checked = run("--db", db, "validate", str(spec), env=environment(), cwd=tmp_path)
    started = run("--db", db, "start", str(spec), env=environment(), cwd=tmp_path)
    for result in (checked, started):
        assert result.returncode == 1
        output = result.stdout + result.stderr
        assert "Traceback" not in output
        assert f"  {path}: {path} holds a {words}" in output
    assert not (tmp_path / "onboarding.db").exists()


def test_a_json_spec_with_a_good_surrogate_pair_is_text(
    tmp_path: Path, samples: dict[str, Any], today: date
) -> None:
    """A full pair (an emoji written as two escapes) is one character, and valid."""
    document = json.dumps(samples["demo-inherited"]).replace(
        '"Customer support profile"', '"Support \\ud83d\\ude00"'
    )
    spec = tmp_path / "spec.json"
    spec.write_text(document)
    specs, errors = parse_documents([spec], today=today)
    assert errors == []
    assert specs[0].profile.description == "Support 😀"


@pytest.mark.usefixtures("yaml_parser")
@pytest.mark.parametrize(
    ("escape", "words"), [("\\ud800", "lone surrogate"), ("\\0", "NUL character")]
)
def test_a_yaml_spec_with_unstorable_text_is_refused(
    tmp_path: Path, today: date, escape: str, words: str
) -> None:
    """The escape in a YAML double-quoted string is refused, by either parser: libyaml
    refuses a surrogate escape where it reads it (line and column), PyYAML's own parser
    reads it and the spec check names the field."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "key: text-check\nprofile:\n  name: Support\n  short_name: Sup1\n"
        f'  description: "Customer {escape} support"\n  billing_model: organization\n'
    )
    specs, errors = parse_documents([spec], today=today)
    assert specs == []
    (error,) = errors
    (problem,) = error.problems
    if problem.path == "file":  # libyaml: the escape itself is refused while reading
        assert "line 5" in problem.message
        assert "invalid Unicode character escape" in problem.message
    else:
        assert problem.path == "profile.description"
        assert f"profile.description holds a {words}" in problem.message


def test_parse_spec_names_every_field_with_unstorable_text(
    samples: dict[str, Any], today: date
) -> None:
    """A library caller's spec: every such string, values and field names, nested in lists,
    in the document's order; nothing else is judged, and the value is never quoted."""
    raw = _with(samples["demo-own-brand-tcr"], name="Sales\ud800", notes="a\x00b")
    raw["profile"]["extra\udc00field"] = "x"
    raw["campaigns"][0]["useCases"][0]["sampleMessages"].append("Hi \x00 there")
    with pytest.raises(SpecError) as caught:
        parse_spec(raw, today=today)
    assert [p.path for p in caught.value.problems] == [
        "profile.name",
        "profile.notes",
        "profile.extra\\udc00field",
        "campaigns[0].useCases[0].sampleMessages[1]",
    ]
    assert "lone surrogate" in caught.value.problems[0].message
    assert "NUL character" in caught.value.problems[1].message
    assert "Sales" not in str(caught.value)
    str(caught.value).encode("utf-8")  # printable as it is: no surrogate in the message
