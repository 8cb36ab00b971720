"""The sandbox playing both Sent API revisions, with Sent's rate limit on ``/complete``, 409 for
a key still being processed, replay headers, a one-shot webhook and KYC flags.

Expectations are written from the SDK 0.46.0 text of ``profiles.complete`` and Sent's
2026-05 documentation (10 a minute, ``CONFLICT_001``, ``Idempotent-Replayed``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import text

from persistence.db import make_engine
from persistence.migrate import alembic_config, upgrade
from tests.cli_process import environment, run as run_cli
from workflow.core.clock import FakeClock
from workflow.sandbox import FaultConfig, OrganizationConfig, Sandbox, ServerThread

KEY = {"x-api-key": "sandbox-key"}
OWN_TCR = {
    "name": "Sales", "short_name": "SALES", "description": "Sales profile",
    "billing_model": "organization", "inherit_tcr_brand": False, "inherit_tcr_campaign": False,
    "whatsapp_business_account": {"waba_id": "1", "phone_number_id": "2", "access_token": "EAAx"},
    "brand": {
        "contact": {"name": "John Smith"},
        "compliance": {"vertical": "PROFESSIONAL", "brandRelationship": "SMALL_ACCOUNT",
                       "isTcrApplication": True, "destinationCountries": [{"id": "US", "isMain": False}]},
    },
}  # fmt: skip
CAMPAIGN = {
    "campaign": {
        "name": "Reminders", "description": "Appointment reminders", "type": "App",
        "useCases": [{"messagingUseCaseUs": "ACCOUNT_NOTIFICATION",
                      "sampleMessages": ["Hi {name}, your appointment is on {date}."]}],
    }
}  # fmt: skip
HOOK = {"webHookUrl": "http://127.0.0.1:9/hook"}


@contextmanager
def _serve(box: Sandbox) -> Iterator[httpx.Client]:
    try:
        with (
            ServerThread(box.app) as server,
            httpx.Client(base_url=server.url, headers=KEY, timeout=10) as client,
        ):
            yield client
    finally:
        box.close()


@pytest.fixture
def later() -> Iterator[tuple[Sandbox, httpx.Client]]:
    box = Sandbox(OrganizationConfig(completion_delay_seconds=3600), api_revision="2026-10")
    with _serve(box) as client:
        yield box, client


def _ready_profile(http: httpx.Client, body: dict[str, Any] | None = None) -> str:
    profile_id: str = http.post("/v3/profiles", json=body or OWN_TCR).json()["data"]["id"]
    assert http.post(f"/v3/profiles/{profile_id}/campaigns", json=CAMPAIGN).status_code == 201
    return profile_id


def test_2026_10_complete_onboards_as_approved(later: tuple[Sandbox, httpx.Client]) -> None:
    """202, then the run onboards the profile (approved) though it is a TCR application with
    its own brand; a second call answers 200 already onboarded."""
    box, http = later
    profile_id = _ready_profile(http)
    accepted = http.post(f"/v3/profiles/{profile_id}/complete", json=HOOK)
    assert (accepted.status_code, accepted.json()["data"]) == (
        202, {"message": "Profile completion in progress"},
    )  # fmt: skip
    box.completer.flush()
    assert http.get(f"/v3/profiles/{profile_id}").json()["data"]["status"] == "approved"
    again = http.post(f"/v3/profiles/{profile_id}/complete", json=HOOK)
    assert (again.status_code, again.json()["data"]) == (
        200, {"status": "approved", "message": "Profile is already onboarded"},
    )  # fmt: skip
    assert (box.completer.callbacks_sent, box.completer.callbacks_dropped) == (0, 0)  # one shot


def test_2026_10_kyc_per_organization_and_profile(later: tuple[Sandbox, httpx.Client]) -> None:
    """Without a KYC form, 400 names it; a profile's own flag overrides the organization's."""
    box, http = later
    box.state.organization = box.state.organization.model_copy(update={"kyc_submitted": False})
    profile_id = _ready_profile(http)
    refused = http.post(f"/v3/profiles/{profile_id}/complete", json=HOOK)
    assert refused.status_code == 400
    assert refused.json()["error"]["details"] == {"kyc": ["A KYC form submission is required."]}
    assert http.put(f"/_sandbox/profiles/{profile_id}/kyc", json={"submitted": True}).json() == {
        "kyc_submitted": True
    }
    assert http.post(f"/v3/profiles/{profile_id}/complete", json=HOOK).status_code == 202


def test_2026_10_names_every_unmet_prerequisite(later: tuple[Sandbox, httpx.Client]) -> None:
    """No description and no campaign on a TCR application, no inherit choice: all named."""
    _box, http = later
    body = {k: v for k, v in OWN_TCR.items() if k not in ("description", "inherit_tcr_campaign")}
    profile_id = http.post("/v3/profiles", json=body).json()["data"]["id"]
    refused = http.post(f"/v3/profiles/{profile_id}/complete", json=HOOK)
    assert refused.status_code == 400
    assert refused.json()["error"]["details"] == {
        "profile": ["The profile must have a name, short name, and description."],
        "campaigns": ["TCR applications must have at least one campaign, own or inherited."],
        "inherit_tcr_brand": [
            "TCR applications must state whether they inherit the organization's TCR brand and "
            "campaign: set inherit_tcr_brand and inherit_tcr_campaign."
        ],
    }


def test_2026_10_inherits_nothing_by_default_and_never_a_waba(
    later: tuple[Sandbox, httpx.Client],
) -> None:
    """0.35+: inherit flags default to false; no WABA given means no WhatsApp, not a 422."""
    box, http = later
    box.state.organization = box.state.organization.model_copy(
        update={"has_whatsapp_account": False}
    )
    created = http.post(
        "/v3/profiles",
        json={"name": "Ops", "short_name": "Ops", "description": "d", "billing_model": "organization"},
    )  # fmt: skip
    assert created.status_code == 201
    data = created.json()["data"]
    assert (data["inherit_tcr_brand"], data["inherit_tcr_campaign"], data["waba_id"]) == (
        False, False, None,
    )  # fmt: skip


def test_a_failed_run_keeps_the_status_and_the_webhook_says_why() -> None:
    received: list[dict[str, Any]] = []
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def hook(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=204)

    box = Sandbox(
        OrganizationConfig(completion_delay_seconds=3600, completion_failure_reason="Vetting failed"),
        api_revision="2026-10",
    )  # fmt: skip
    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    with ServerThread(app) as receiver, _serve(box) as http:
        profile_id = _ready_profile(http)
        url = {"webHookUrl": f"{receiver.url}/hook"}
        assert http.post(f"/v3/profiles/{profile_id}/complete", json=url).status_code == 202
        box.completer.flush()
        assert http.get(f"/v3/profiles/{profile_id}").json()["data"]["status"] == "incomplete"
    assert [(r["status"], r["reason"]) for r in received] == [("failed", "Vetting failed")]


def test_complete_is_rate_limited_per_minute_with_retry_after() -> None:
    """Two a minute: the third in the same minute answers 429 RATE_LIMIT_001 with the seconds
    until a slot frees; a minute later it is accepted."""
    clock = FakeClock(datetime(2026, 10, 1, tzinfo=UTC))
    box = Sandbox(
        OrganizationConfig(completion_delay_seconds=3600, complete_per_minute=2), clock=clock
    )
    with _serve(box) as http:
        ids = [_ready_profile(http, {**OWN_TCR, "name": f"P{n}"}) for n in range(3)]
        answers = [http.post(f"/v3/profiles/{i}/complete", json=HOOK) for i in ids]
        assert [a.status_code for a in answers] == [202, 202, 429]
        assert answers[2].json()["error"]["code"] == "RATE_LIMIT_001"
        assert answers[2].headers["retry-after"] == "60"
        http.post("/_sandbox/clock", json={"advance_seconds": 60})
        assert http.post(f"/v3/profiles/{ids[2]}/complete", json=HOOK).status_code == 202


def test_a_key_still_being_processed_answers_409_and_its_replay_is_marked() -> None:
    """Two requests with one Idempotency-Key at once: the second answers 409 CONFLICT_001 and
    nothing runs twice; once the first is done, the key replays it, marked as a replay."""
    box = Sandbox(faults=FaultConfig(latency_ms=400))
    with _serve(box) as http:
        answers: list[httpx.Response] = []

        def create() -> None:
            answers.append(
                http.post("/v3/profiles", json=OWN_TCR, headers={"Idempotency-Key": "same"})
            )

        first = threading.Thread(target=create)
        first.start()
        for _ in range(200):  # the first is in flight once the sandbox counts it
            if box._in_flight:
                break
            threading.Event().wait(0.01)
        create()
        first.join()
        assert sorted(a.status_code for a in answers) == [201, 409]
        conflict = next(a for a in answers if a.status_code == 409)
        assert conflict.json()["error"]["code"] == "CONFLICT_001"
        created = next(a for a in answers if a.status_code == 201)
        replay = http.post("/v3/profiles", json=OWN_TCR, headers={"Idempotency-Key": "same"})
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.headers["x-original-request-id"] == created.json()["meta"]["request_id"]
        assert replay.json()["data"]["id"] == created.json()["data"]["id"]
        assert "idempotent-replayed" not in created.headers
        assert len(box.state.profiles) == 1


def test_sandbox_serve_refuses_an_unknown_revision() -> None:
    done = run_cli("sandbox", "serve", "--api-revision", "2027-01", "--port", "1", process=True)
    assert done.returncode != 0
    assert "api_revision" in done.stderr
    assert "Traceback" not in done.stderr


def test_start_stores_the_revision_asked_for(tmp_path: Path) -> None:
    """``start --sent-api`` (or ``ONBOARDING_SENT_API``) sets the revision new onboardings keep;
    a bad one is refused in one line before anything is stored."""
    db = tmp_path / "o.db"
    spec = tmp_path / "s.json"
    spec.write_text(
        '{"key": "k1", "profile": {"name": "Ops", "short_name": "Ops", "description": "d", '
        '"billing_model": "organization"}}'
    )
    env = environment(ONBOARDING_SECRET_KEY="x" * 43 + "=")
    refused = run_cli("--db", f"sqlite:///{db}", "start", str(spec), "--sent-api", "2027", env=env)
    assert refused.returncode != 0
    assert "one of 2026-03, 2026-10" in refused.stderr
    assert "Traceback" not in refused.stderr
    env["ONBOARDING_SENT_API"] = "2026-10"
    done = run_cli("--db", f"sqlite:///{db}", "start", str(spec), env=env)
    assert done.returncode == 0, done.stderr
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT sent_api FROM onboardings")).scalar() == "2026-10"
    engine.dispose()


def test_rows_stored_before_the_revision_setting_started_under_2026_03(tmp_path: Path) -> None:
    """Migration 0010: existing onboardings read 2026-03, the only revision spoken before."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    command.upgrade(alembic_config(url), "0008")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO onboardings (id, key, fingerprint, spec, state, generation, "
                "flow_version, attempts, version, has_secrets, wake_on_callback, audit_seq, "
                "audit_head, audit_anchor, created_at, updated_at) VALUES ('o1', 'k', 'f', '{}', "
                "'pending', 0, 1, 0, 0, 0, 0, 0, '', '', '2026-01-01', '2026-01-01')"
            )
        )
    upgrade(engine)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT sent_api, rate_class FROM onboardings")).one()
    assert tuple(row) == ("2026-03", None)
    engine.dispose()


def test_2026_10_an_onboarded_profile_is_never_refused_for_the_tcr_choice(
    later: tuple[Sandbox, httpx.Client],
) -> None:
    """The TCR inherit choice is checked after the already-onboarded answer (SDK 0.46.0: "a
    profile that is already onboarded is never rejected by it")."""
    box, http = later
    body = {k: v for k, v in OWN_TCR.items() if k != "inherit_tcr_campaign"}
    profile_id = _ready_profile(http, body)
    assert http.post(f"/v3/profiles/{profile_id}/complete", json=HOOK).status_code == 400
    box.state.profiles[profile_id].data["status"] = "approved"
    done = http.post(f"/v3/profiles/{profile_id}/complete", json={"webHookUrl": "http://x/2"})
    assert (done.status_code, done.json()["data"]["status"]) == (200, "approved")
