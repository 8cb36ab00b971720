"""Secrets never reach a message: file errors quote the line with every secret redacted."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from workflow.core.errors import SpecError
from workflow.core.redaction import redact
from workflow.core.spec import load_documents, parse_documents

CARD = "5105105105105100"
TOKEN = "EAAx9Q2mZ7vK4pL8rT3wY6nB1cD5"
EXPIRY = "09/39"


def _fragments(secret: str, size: int) -> list[str]:
    """Every run of ``size`` characters taken from ``secret``."""
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


def _assert_no_card(text: str) -> None:
    for fragment in _fragments(CARD, 4):
        assert fragment not in text, f"card digits {fragment!r} leaked: {text}"
    assert EXPIRY not in text


def _assert_no_token(text: str) -> None:
    for fragment in _fragments(TOKEN, 6):
        assert fragment not in text, f"token part {fragment!r} leaked: {text}"


FILES = {
    # A flow mapping closed with ']': PyYAML quotes the card line twice.
    "card_flow.yaml": (
        "key: k\nprofile:\n  name: n\n"
        f'  payment_details: {{card_number: "{CARD}", expiry: "{EXPIRY}", cvc: "737", zip_code: "1"]\n'
    ),
    # A plain scalar followed by ': ' on the card line.
    "card_block.yaml": (
        f"key: k\nprofile:\n  payment_details:\n    card_number: {CARD}: x\n    expiry: {EXPIRY}\n"
    ),
    # The card written in groups, in a field that is not named as a secret.
    "card_grouped.yaml": (
        "key: k\nprofile:\n  description: call me\n"
        f"  notes: [{CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:]}: 1\n"
    ),
    "token.yaml": (
        "key: k\nprofile:\n  name: n\n  whatsapp_business_account:\n"
        f'    waba_id: "1"\n    access_token: {TOKEN}: oops\n'
    ),
    "card.json": (
        '{"key": "k", "profile": {"payment_details": '
        f'{{"card_number": "{CARD}" "expiry": "{EXPIRY}", "cvc": "737"}}}}}}'
    ),
    "token.json": (
        '{"key": "k", "profile": {"whatsapp_business_account": '
        f'{{"waba_id": "1", "access_token": "{TOKEN}",, "x": 1}}}}}}'
    ),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_decode_error_messages_hide_every_secret(name: str, tmp_path: Path, today: date) -> None:
    """A YAML or JSON syntax error on a secret's line quotes the line with the secret redacted."""
    path = tmp_path / name
    path.write_text(FILES[name])
    with pytest.raises(SpecError) as caught:
        load_documents(path)
    text = str(caught.value)
    _assert_no_card(text)
    _assert_no_token(text)
    assert "line " in text
    assert "\n" not in text
    _, errors = parse_documents([path], today=today)
    _assert_no_card(str(errors[0]))
    _assert_no_token(str(errors[0]))


def test_decode_errors_keep_the_exception_chain_free_of_secrets(tmp_path: Path) -> None:
    """The SpecError does not chain the library error that quoted the secret line."""
    path = tmp_path / "card.yaml"
    path.write_text(FILES["card_flow.yaml"])
    with pytest.raises(SpecError) as caught:
        load_documents(path)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_validate_output_hides_every_secret(tmp_path: Path) -> None:
    """'onboarding validate' prints no digit group of the card and no part of the token."""
    paths = []
    for name, text in FILES.items():
        path = tmp_path / name
        path.write_text(text)
        paths.append(str(path))
    done = subprocess.run(
        [sys.executable, "-m", "workflow", "validate", *paths],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    assert output.count("problem(s)") == len(FILES)
    _assert_no_card(output)
    _assert_no_token(output)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('card_number: "4111111111111111"', 'card_number: "***"'),
        ("cvc: 737, expiry: 09/27", "cvc: ***, expiry: ***"),
        ('{"access_token": "EAAabc", "waba_id": "1"}', '{"access_token": "***", "waba_id": "1"}'),
        ("notes: 4111 1111 1111 1111 ok", "notes: *** ok"),
        ("notes: 4111-1111-1111-1111", "notes: ***"),
        ("phone: +12025551234", "phone: +12025551234"),
        ("date: 2026-03-11", "date: 2026-03-11"),
    ],
)
def test_redact_by_field_name_and_by_shape(text: str, expected: str) -> None:
    """Secret fields lose their values; any run of 13+ digits (spaces or dashes between) goes."""
    assert redact(text) == expected
