"""Shared fixtures: dates, sample specs and database URLs."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from workflow.sandbox import Sandbox, ServerThread
from workflow.sent_client import HttpxSentApi
from workflow.spec import load_documents

SAMPLES = Path(__file__).resolve().parent.parent / "workflow" / "samples" / "demo.yaml"
CARD_NUMBER = "4111111111111111"
CVC = "737"
WHATSAPP_TOKEN = "EAAtesttoken9876543210secret"


@pytest.fixture
def today() -> date:
    """A fixed 'today' so card expiry checks never depend on the calendar."""
    return date(2026, 5, 1)


@pytest.fixture
def samples() -> dict[str, dict[str, Any]]:
    """The demo's sample specs by key, fresh copies for each test."""
    return {doc["key"]: copy.deepcopy(doc) for doc in load_documents(SAMPLES)}  # type: ignore[index]


@pytest.fixture
def secret_spec(samples: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The own-brand TCR sample carrying the test card and WhatsApp token."""
    spec = samples["demo-own-brand-tcr"]
    spec["key"] = "secret-spec"
    spec["profile"]["payment_details"] = {
        "card_number": CARD_NUMBER, "expiry": "09/39", "cvc": CVC, "zip_code": "10001",
    }  # fmt: skip
    spec["profile"]["whatsapp_business_account"]["access_token"] = WHATSAPP_TOKEN
    return spec


def postgres_url() -> str | None:
    """The PostgreSQL URL tests may use, from ONBOARDING_TEST_POSTGRES_URL."""
    return os.environ.get("ONBOARDING_TEST_POSTGRES_URL") or None


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox with the default organization (brand, campaigns, WhatsApp account)."""
    box = Sandbox()
    yield box
    box.close()


@pytest.fixture
def sandbox_url(sandbox: Sandbox) -> Iterator[str]:
    """The sandbox served over real HTTP on loopback."""
    with ServerThread(sandbox.app) as server:
        yield server.url


@pytest.fixture
def api(sandbox_url: str) -> Iterator[HttpxSentApi]:
    """Our client, pointed at the served sandbox."""
    with HttpxSentApi(sandbox_url, "sandbox-key", timeout=10) as client:
        yield client
