"""The official ``sentdm`` SDK round-trips every endpoint against the sandbox: the seed-era
0.24.1 (installed) against the 2026-03 revision, and 0.46.0 against the 2026-10 revision.

It talks to the sandbox over real HTTP and must parse every answer into its own types, with every
field its models declare present in the JSON (none left to a default). Both releases share the
name ``sent_dm``, so 0.46.0 runs in a subprocess with its wheel first on ``sys.path``: the wheel
is downloaded once into ``ONBOARDING_SDK_CACHE`` (default ``~/.cache/sent-onboarding/sdk``,
which ``.ci/run`` fills), and the test is skipped, saying why, when it cannot be had.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sent_dm = pytest.importorskip("sent_dm")
from sent_dm import NotFoundError, Sent  # noqa: E402

from workflow.sandbox import Sandbox, ServerThread  # noqa: E402

LATEST = "0.46.0"
ROUND_TRIP = Path(__file__).parent / "sdk" / "round_trip.py"

BRAND = {
    "contact": {"name": "John Smith", "business_name": "Acme Corp", "email": "john@acmecorp.com", "phone_country_code": "1"},
    "business": {"legal_name": "Acme Corporation LLC", "tax_id": "12-3456789", "tax_id_type": "us_ein",
                 "entity_type": "PRIVATE_PROFIT", "country": "US", "postal_code": "10001"},
    "compliance": {"vertical": "PROFESSIONAL", "brand_relationship": "SMALL_ACCOUNT", "is_tcr_application": True,
                   "destination_countries": [{"id": "US", "is_main": False}], "phone_number_prefix": "+1"},
}  # fmt: skip
CAMPAIGN = {
    "name": "Reminders", "description": "Appointment reminders", "type": "App",
    "use_cases": [{"messaging_use_case_us": "ACCOUNT_NOTIFICATION",
                   "sample_messages": ["Hi {name}, your appointment is confirmed for {date} at {time}."]}],
    "help_keywords": "HELP, INFO", "optin_keywords": "YES, START", "optout_keywords": "STOP, END",
}  # fmt: skip


def _fully_populated(model: Any, path: str = "response") -> list[str]:
    """Fields an SDK model declares that the JSON did not carry (recursively)."""
    missing = [
        f"{path}.{name}" for name in type(model).model_fields if name not in model.model_fields_set
    ]
    for name in model.model_fields_set:
        value = getattr(model, name)
        values = value if isinstance(value, list) else [value]
        for index, item in enumerate(values):
            if hasattr(type(item), "model_fields"):
                missing += _fully_populated(
                    item, f"{path}.{name}" + (f"[{index}]" if isinstance(value, list) else "")
                )
    return missing


@pytest.fixture
def client(sandbox_url: str) -> Iterator[Sent]:
    with Sent(api_key="sandbox-key", base_url=sandbox_url, max_retries=0) as sdk:
        yield sdk


def test_sdk_version_is_the_seed_era_release() -> None:
    """The conformance suite runs the 0.24.1 SDK, the release matching the seeds."""
    assert sent_dm.__version__ == "0.24.1"


def test_sdk_round_trips_every_endpoint(client: Sent, sandbox: Sandbox) -> None:
    """create (brand + payment), get, list, update, campaigns, complete and delete all parse."""
    created = client.profiles.create(
        name="Sales Team", short_name="SALES", description="Sales department sender profile",
        inherit_tcr_brand=False, inherit_tcr_campaign=False, billing_model="profile",
        billing_contact={"name": "Acme Corp", "email": "billing@acmecorp.com"},
        payment_details={"card_number": "4242424242424242", "expiry": "09/39", "cvc": "123", "zip_code": "10001"},
        whatsapp_business_account={"waba_id": "123", "phone_number_id": "987", "access_token": "EAAsdk"},
        brand=BRAND, idempotency_key="sdk-create",
    )  # fmt: skip
    assert created.success is True
    assert _fully_populated(created) == []
    profile_id = created.data.id
    assert created.data.brand.compliance.destination_countries[0].is_main is False
    assert created.data.status == "incomplete"

    fetched = client.profiles.retrieve(profile_id)
    assert _fully_populated(fetched) == []
    assert fetched.data.brand.compliance.vertical == "PROFESSIONAL"

    listed = client.profiles.list()
    assert _fully_populated(listed) == []
    assert [p.id for p in listed.data.profiles] == [profile_id]

    updated = client.profiles.update(
        profile_id,
        description="Updated",
        sending_phone_number="+12025550101",
        idempotency_key="sdk-update",
    )
    assert _fully_populated(updated) == []
    assert (updated.data.description, updated.data.sending_phone_number) == (
        "Updated",
        "+12025550101",
    )

    campaign = client.profiles.campaigns.create(
        profile_id, campaign=CAMPAIGN, idempotency_key="sdk-campaign"
    )
    assert _fully_populated(campaign) == []
    assert campaign.data.use_cases[0].messaging_use_case_us == "ACCOUNT_NOTIFICATION"
    campaigns = client.profiles.campaigns.list(profile_id)
    assert _fully_populated(campaigns) == []
    assert [c.id for c in campaigns.data] == [campaign.data.id]

    accepted = client.profiles.complete(
        profile_id, web_hook_url="http://127.0.0.1:9/hook", idempotency_key="sdk-complete"
    )
    assert accepted.data.message == "Profile completion in progress"
    sandbox.completer.flush()
    done = client.profiles.complete(
        profile_id, web_hook_url="http://127.0.0.1:9/hook", idempotency_key="sdk-complete-2"
    )
    assert (done.data.status, done.data.message) == ("submitted", "Profile is already submitted")
    assert _fully_populated(done) == []

    assert client.profiles.delete(profile_id) is None
    with pytest.raises(NotFoundError) as caught:
        client.profiles.retrieve(profile_id)
    assert caught.value.body["error"]["code"] == "RESOURCE_014"


def test_sdk_idempotency_key_creates_one_profile(client: Sent) -> None:
    """Two SDK creates with the same idempotency_key leave one profile."""
    kwargs: dict[str, Any] = {
        "name": "Ops",
        "short_name": "Ops",
        "billing_model": "organization",
        "idempotency_key": "sdk-once",
    }
    first = client.profiles.create(**kwargs)
    second = client.profiles.create(**kwargs)
    assert first.data.id == second.data.id
    assert len(client.profiles.list().data.profiles) == 1


def _sdk_cache() -> Path:
    default = Path.home() / ".cache" / "sent-onboarding" / "sdk"
    return Path(os.environ.get("ONBOARDING_SDK_CACHE") or default)


@pytest.fixture(scope="session")
def latest_sdk() -> Path:
    """``sentdm`` 0.46.0 unpacked beside its wheel (downloaded once with pip), or a skip."""
    cache = _sdk_cache()
    unpacked = cache / f"sentdm-{LATEST}"
    if (unpacked / "sent_dm" / "__init__.py").exists():
        return unpacked
    wheels = sorted(cache.glob(f"sentdm-{LATEST}-*.whl"))
    if not wheels:
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             f"sentdm=={LATEST}", "-d", str(cache)],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        wheels = sorted(cache.glob(f"sentdm-{LATEST}-*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            pytest.skip(f"sentdm {LATEST} could not be downloaded into {cache}: {last}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(unpacked)
    return unpacked


#: What each SDK release reads back from the sandbox playing its revision (fixed expectations).
EXPECTED = {
    "created_status": "incomplete", "listed": True, "updated_number": "+12025550101",
    "campaign_use_case": "ACCOUNT_NOTIFICATION", "accepted": "Profile completion in progress",
    "replayed": "true", "replay_message": "Profile completion in progress",
    "deleted": "RESOURCE_014", "missing": [],
}  # fmt: skip


@pytest.mark.parametrize(("version", "revision"), [("0.24.1", "2026-03"), (LATEST, "2026-10")])
def test_each_sdk_release_round_trips_its_revision(
    version: str, revision: str, request: pytest.FixtureRequest
) -> None:
    """create, get, list, update, campaigns, complete (and its replay, marked
    ``Idempotent-Replayed``), delete: every answer parses into that release's models."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if version == LATEST:
        env["PYTHONPATH"] = str(request.getfixturevalue("latest_sdk"))
    box = Sandbox(api_revision=revision)
    try:
        with ServerThread(box.app) as server:
            done = subprocess.run(
                [sys.executable, str(ROUND_TRIP), server.url],
                capture_output=True, text=True, env=env, timeout=120, check=False,
            )  # fmt: skip
    finally:
        box.close()
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["version"] == version
    assert {k: result[k] for k in EXPECTED} == EXPECTED
    assert result["campaigns_listed"] == [result["campaign_id"]]
