"""Specs: loading, every API rule checked locally at once, secrets kept out of sight."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CARD_NUMBER, CVC, WHATSAPP_TOKEN
from workflow.core.errors import SpecError
from workflow.core.spec import (
    SIMULATED_ONBOARDING,
    find_key_conflicts,
    load_documents,
    parse_documents,
    parse_spec,
)
from workflow.core.validation import SHORT_NAME_RULE


def _paths(exc: SpecError) -> dict[str, list[str]]:
    return exc.as_details()


def test_every_sample_is_valid(samples: dict[str, dict[str, Any]], today: date) -> None:
    """The demo's specs pass every rule."""
    for raw in samples.values():
        assert parse_spec(raw, today=today).key == raw["key"]


def test_bad_spec_reports_every_problem_at_once(today: date) -> None:
    """One spec with many faults yields all of them, each under its field path."""
    raw = {
        "key": "bad key!",
        "profile": {
            "short_name": "x",
            "billing_model": "organization",
            "payment_details": {"card_number": "12", "expiry": "2027-09", "cvc": "1", "zip_code": ""},
            "unknown_field": 1,
        },
        "brand": {"contact": {}, "compliance": {"vertical": "SPACE"}},
        "campaigns": [
            {"name": "c", "description": "d", "type": "App", "useCases": []},
            {
                "name": "c2", "description": "d", "type": "App",
                "useCases": [{"messagingUseCaseUs": "MARKETING", "sampleMessages": ["x" * 1025]}],
            },
        ],
    }  # fmt: skip
    with pytest.raises(SpecError) as caught:
        parse_spec(raw, today=today)
    details = _paths(caught.value)
    assert details["profile.name"] == ["Profile name is required"]
    assert details["profile.short_name"] == [SHORT_NAME_RULE]
    assert details["profile.payment_details.expiry"] == [
        "payment_details.expiry must be in MM/YY format (e.g. '09/27')"
    ]
    assert "profile.payment_details" in details  # not allowed with billing_model organization
    assert "profile.payment_details.card_number" in details
    assert "profile.payment_details.cvc" in details
    assert "profile.payment_details.zip_code" in details
    assert details["brand"] == ["Cannot provide brand data when inherit_tcr_brand is true."]
    assert "brand.contact.name" in details
    assert "brand.compliance.vertical" in details
    assert "brand.compliance.brandRelationship" in details
    assert "campaigns[0].useCases" in details
    assert "campaigns[1].useCases[0].sampleMessages[0]" in details
    assert "key" in details
    assert details["profile.unknown_field"] == ["unknown field"]


@pytest.mark.parametrize(
    ("short_name", "ok"),
    [("SALES", True), ("Mkt 2", True), ("Support1", True), ("ab", False), ("123", False),
     ("twelve chars", False), ("a-b-c", False), ("abc", True), ("elevenchars", True)],
)  # fmt: skip
def test_short_name_rule(short_name: str, ok: bool, today: date) -> None:
    """short_name is 3-11 letters, digits and spaces with at least one letter."""
    raw = {
        "key": "k",
        "profile": {"name": "n", "short_name": short_name, "billing_model": "organization"},
    }
    if ok:
        parse_spec(raw, today=today)
    else:
        with pytest.raises(SpecError) as caught:
            parse_spec(raw, today=today)
        assert _paths(caught.value) == {"profile.short_name": [SHORT_NAME_RULE]}


def test_expiry_in_the_past_is_refused(today: date) -> None:
    """A card that expired before today is refused before any API call."""
    raw = {
        "key": "k",
        "profile": {
            "name": "n", "billing_contact": {"name": "a", "email": "b@c.d"},
            "payment_details": {"card_number": CARD_NUMBER, "expiry": "04/26", "cvc": CVC, "zip_code": "1"},
        },
    }  # fmt: skip
    with pytest.raises(SpecError) as caught:
        parse_spec(raw, today=today)
    assert _paths(caught.value) == {
        "profile.payment_details.expiry": ["payment_details.expiry must not be in the past"]
    }
    raw["profile"]["payment_details"]["expiry"] = "05/26"  # type: ignore[index]
    parse_spec(raw, today=today)


def test_billing_contact_required_for_profile_billing(today: date) -> None:
    """billing_model defaults to 'profile', which needs a billing contact."""
    with pytest.raises(SpecError) as caught:
        parse_spec({"key": "k", "profile": {"name": "n"}}, today=today)
    assert list(_paths(caught.value)) == ["profile.billing_contact"]


def test_brand_allowed_when_not_inheriting(today: date, samples: dict[str, dict[str, Any]]) -> None:
    """Brand with inherit_tcr_brand omitted is refused (the API default is true)."""
    raw = samples["demo-main-country"]
    del raw["profile"]["inherit_tcr_brand"]
    with pytest.raises(SpecError) as caught:
        parse_spec(raw, today=today)
    assert _paths(caught.value) == {
        "brand": ["Cannot provide brand data when inherit_tcr_brand is true."]
    }


def test_secrets_never_show(secret_spec: dict[str, Any], today: date) -> None:
    """Card data and the WhatsApp token stay out of repr, str, storable dumps and errors."""
    spec = parse_spec(secret_spec, today=today)
    for text in (repr(spec), str(spec), json.dumps(spec.storable()), spec.model_dump_json()):
        assert CARD_NUMBER not in text
        assert CVC not in text.replace('"cvc"', "")
        assert WHATSAPP_TOKEN not in text
    stored = spec.storable()
    assert "payment_details" not in stored["profile"]
    assert "access_token" not in stored["profile"]["whatsapp_business_account"]
    assert spec.profile.payment_details is not None
    assert spec.profile.payment_details.last4 == CARD_NUMBER[-4:]
    assert spec.secret_values()["whatsapp_access_token"] == WHATSAPP_TOKEN
    body = spec.create_body(spec.secret_values())
    assert body["payment_details"]["card_number"] == CARD_NUMBER
    assert body["whatsapp_business_account"]["access_token"] == WHATSAPP_TOKEN
    assert "payment_details" not in spec.create_body()

    bad = dict(secret_spec, profile=dict(secret_spec["profile"], short_name="x"))
    with pytest.raises(SpecError) as caught:
        parse_spec(bad, today=today)
    assert CARD_NUMBER not in str(caught.value)
    assert WHATSAPP_TOKEN not in str(caught.value)
    assert caught.value.__cause__ is None


def test_fingerprint_tells_specs_apart(samples: dict[str, dict[str, Any]], today: date) -> None:
    """The same spec has the same fingerprint; a changed field changes it."""
    raw = samples["demo-inherited"]
    first = parse_spec(raw, today=today).fingerprint()
    assert parse_spec(raw, today=today).fingerprint() == first
    raw["profile"]["description"] = "changed"
    assert parse_spec(raw, today=today).fingerprint() != first


def test_load_json_yaml_single_and_list(
    tmp_path: Path, samples: dict[str, dict[str, Any]], today: date
) -> None:
    """A file holds one spec or a list, in JSON or YAML."""
    one = tmp_path / "one.json"
    one.write_text(json.dumps(samples["demo-inherited"]))
    many = tmp_path / "many.yml"
    many.write_text(yaml.safe_dump(list(samples.values())))
    assert len(load_documents(one)) == 1
    assert len(load_documents(many)) == len(samples)
    specs, errors = parse_documents([one, many], today=today)
    assert (len(specs), errors) == (len(samples) + 1, [])


def test_unreadable_file_is_a_spec_error(tmp_path: Path, today: date) -> None:
    """A missing or malformed file is reported with its path, not a traceback."""
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    specs, errors = parse_documents([broken, tmp_path / "missing.yaml"], today=today)
    assert specs == []
    assert [e.problems[0].path for e in errors] == ["file", "file"]
    assert "broken.json" in str(errors[0])


def test_key_conflicts_are_found_across_entries(
    samples: dict[str, dict[str, Any]], today: date
) -> None:
    """Two entries with one key and different content conflict; the error names both sources."""
    first = parse_spec(samples["demo-inherited"], today=today)
    changed = dict(
        samples["demo-inherited"],
        profile={**samples["demo-inherited"]["profile"], "description": "other"},
    )
    second = parse_spec(changed, today=today)
    other = parse_spec(samples["demo-retried"], today=today)
    conflicts = find_key_conflicts([("a.yaml[1]", first), ("b.json", other), ("c.yaml", second)])
    assert len(conflicts) == 1
    (problem,) = conflicts[0].problems
    assert problem.path == "key"
    assert "'demo-inherited'" in problem.message
    assert "a.yaml[1]" in problem.message
    assert conflicts[0].source == "c.yaml"


def test_identical_duplicates_are_not_conflicts(
    samples: dict[str, dict[str, Any]], today: date
) -> None:
    """The same spec given twice is one onboarding (starting it is idempotent)."""
    spec = parse_spec(samples["demo-inherited"], today=today)
    again = parse_spec(samples["demo-inherited"], today=today)
    assert find_key_conflicts([spec, again]) == []
    assert find_key_conflicts([("a.yaml", spec), ("b.yaml", again)]) == []


def test_different_secrets_under_one_key_conflict_without_showing_them(
    secret_spec: dict[str, Any], today: date
) -> None:
    """Entries differing only in card data conflict, and the error does not show the card."""
    first = parse_spec(secret_spec, today=today)
    secret_spec["profile"]["payment_details"]["card_number"] = "5105105105105100"
    second = parse_spec(secret_spec, today=today)
    assert first.fingerprint() == second.fingerprint()
    (conflict,) = find_key_conflicts([first, second])
    assert "entry 1" in str(conflict)
    assert "entry 2" in str(conflict)
    assert CARD_NUMBER not in str(conflict)
    assert "5105105105105100" not in str(conflict)


def test_sandbox_true_is_refused_naming_the_alternative(
    samples: dict[str, dict[str, Any]], today: date
) -> None:
    """profile.sandbox: true is a spec problem at that path that points to the sandbox server."""
    raw = samples["demo-inherited"]
    raw["profile"]["sandbox"] = True
    with pytest.raises(SpecError) as caught:
        parse_spec(raw, today=today)
    assert caught.value.as_details() == {"profile.sandbox": [SIMULATED_ONBOARDING]}
    assert "onboarding sandbox serve" in SIMULATED_ONBOARDING


def test_sandbox_false_is_accepted(samples: dict[str, dict[str, Any]], today: date) -> None:
    """profile.sandbox: false is what the API does anyway, so the spec is valid."""
    raw = samples["demo-inherited"]
    raw["profile"]["sandbox"] = False
    assert parse_spec(raw, today=today).key == "demo-inherited"


def test_validate_prints_the_sandbox_refusal_on_one_line(
    tmp_path: Path, samples: dict[str, dict[str, Any]]
) -> None:
    """'onboarding validate' prints the sandbox refusal as one line under the file and exits 1."""
    from typer.testing import CliRunner

    from workflow.cli import app

    raw = samples["demo-inherited"]
    raw["profile"]["sandbox"] = True
    path = tmp_path / "simulated.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{path}: 1 problem(s)",
        f"  profile.sandbox: {SIMULATED_ONBOARDING}",
    ]
