"""Redaction takes secret values out of Sent's errors and keeps Sent's words around them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import CARD_NUMBER, CVC, WHATSAPP_TOKEN, Harness
from workflow.core.redaction import redact
from workflow.ports import Change, CheckpointUpdate

#: Sent's messages for the secret fields, as the seeds and the sandbox word them.
SENT_SAYS = [
    "Sent API error (HTTP 400, VALIDATION_001): Request validation failed "
    "whatsapp_business_account.access_token: whatsapp_business_account.access_token is required "
    "[request req_7T4iKAamDx]",
    "payment_details.card_number: payment_details.card_number must be 13–19 digits; "
    "payment_details.cvc: payment_details.cvc must be 3–4 digits",
    "payment_details.expiry: payment_details.expiry must be in MM/YY format (e.g. '09/27')",
    "payment_details.expiry: payment_details.expiry must not be in the past",
    "whatsapp_business_account.access_token: whatsapp_business_account.access_token must be a "
    "string",
    "campaigns[0].access_token: unknown field",
    "access_token: Invalid OAuth access token - Cannot parse access token",
]


@pytest.mark.parametrize("text", SENT_SAYS)
def test_sent_messages_about_secret_fields_are_kept_word_for_word(text: str) -> None:
    """A field path followed by Sent's sentence about it is not a value: nothing is cut."""
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"access_token: {WHATSAPP_TOKEN} is invalid", "access_token: ***"),
        (f"the token {WHATSAPP_TOKEN} expired", "the token *** expired"),
        ("token=EAAdemo0000token", "token=***"),
        (f'{{"cvc": "{CVC}", "card_number": "{CARD_NUMBER}"}}', '{"cvc": "***", "card_number": "***"}'),
        (f"card_number={CARD_NUMBER}&cvc={CVC}", "card_number=***"),
        ("access_token: sometoken", "access_token: ***"),
        ("payment_details.cvc: 12", "payment_details.cvc: ***"),
        (f"declined: card {CARD_NUMBER[:4]} {CARD_NUMBER[4:8]} {CARD_NUMBER[8:12]} "
         f"{CARD_NUMBER[12:]} refused", "declined: card *** refused"),
        ("EAA is a prefix; EAAshort too", "EAA is a prefix; EAAshort too"),
    ],
)  # fmt: skip
def test_secret_values_still_go_wherever_they_are(text: str, expected: str) -> None:
    """Values after a secret field's name, card-shaped digits and EAA tokens are removed."""
    assert redact(text) == expected


def _reseal(harness: Harness, onboarding: str, secrets: dict[str, str]) -> None:
    """Replace the sealed secrets (as an amend does), so the create sends what Sent refuses."""
    row = harness.store.get(onboarding)
    harness.store.apply(
        Change(
            onboarding, row.version, harness.clock.now(), CheckpointUpdate(),
            secret=harness.vault.seal(secrets),
        )
    )  # fmt: skip


def _leaks(harness: Harness, onboarding: str, secrets: list[str]) -> list[str]:
    row = harness.store.get(onboarding)
    texts = [json.dumps(row.last_error)]
    texts += [json.dumps(t.details) + (t.reason or "") for t in harness.store.history(onboarding)]
    texts += [a.message or "" for a in harness.store.attempts(onboarding)]
    return [s for s in secrets for text in texts if s in text]


def test_a_missing_access_token_pause_keeps_sents_sentence(
    harness: Harness, secret_spec: dict[str, Any]
) -> None:
    """Sent refuses a create without the WhatsApp token: the pause reason (what 'show' and
    'stuck' print) says what Sent said, field and sentence, and holds no secret."""
    onboarding = harness.start(secret_spec)
    held = harness.vault.open(onboarding, harness.store.read_secret(onboarding))
    _reseal(harness, onboarding, {"payment_details": held["payment_details"]})
    harness.run()
    row = harness.store.get(onboarding)
    assert row.state == "needs_attention"
    assert row.last_error is not None
    reason = row.last_error["reason"]
    assert (
        "Request validation failed whatsapp_business_account.access_token: "
        "whatsapp_business_account.access_token is required [request "
    ) in reason
    assert "***" not in reason
    assert row.last_error["details"] == {
        "whatsapp_business_account.access_token": [
            "whatsapp_business_account.access_token is required"
        ]
    }
    assert _leaks(harness, onboarding, [CARD_NUMBER, WHATSAPP_TOKEN, f'"{CVC}"']) == []


def test_invalid_card_fields_pause_keeps_sents_sentences(
    harness: Harness, secret_spec: dict[str, Any]
) -> None:
    """Sent refuses a card number and a CVC of the wrong length: both of its sentences are in
    the reason, whole; the digits sent are nowhere."""
    onboarding = harness.start(secret_spec)
    held = harness.vault.open(onboarding, harness.store.read_secret(onboarding))
    card = {**json.loads(held["payment_details"]), "card_number": "4111111111", "cvc": "73"}
    _reseal(harness, onboarding, {**held, "payment_details": json.dumps(card)})
    harness.run()
    row = harness.store.get(onboarding)
    assert row.last_error is not None
    reason = row.last_error["reason"]
    assert (
        "payment_details.card_number: payment_details.card_number must be 13–19 digits"
    ) in reason
    assert "payment_details.cvc: payment_details.cvc must be 3–4 digits" in reason
    assert "***" not in reason
    assert _leaks(harness, onboarding, ["4111111111", WHATSAPP_TOKEN]) == []
