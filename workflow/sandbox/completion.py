"""``/complete`` in the sandbox: prerequisites, then a background run that sets the profile's
status and calls the ``webHookUrl`` once, without retry (signed when a secret is set).

Under ``2026-03`` the run applies the seeds' Status Logic (submitted or completed). Under
``2026-10`` (SDK 0.46): every prerequisite but the TCR inherit choice is checked before the
already-onboarded answer (200), that one after it; a run that succeeds onboards the profile
(``approved``); a run that fails (``completion_failure_reason``) keeps the status and the
webhook reports the reason."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from workflow.adapters.sent_transport import shared_ssl_context
from workflow.core.rules import REVISION_2026_10, Outcome, status_logic, unmet_prerequisites
from workflow.engine.callbacks import check_signing_secret
from workflow.sandbox.envelope import Reply, error_reply, ok_reply, timestamp
from workflow.sandbox.faults import FaultInjector
from workflow.sandbox.state import ProfileRecord, SandboxState

__all__ = ["Completer", "sign"]

log = logging.getLogger(__name__)

#: Where each prerequisite points in ``error.details``.
PREREQUISITE_FIELDS = {
    "PROFILE_INCOMPLETE": "profile",
    "OWN_BRAND_MISSING": "brand",
    "PARENT_BRAND_MISSING": "inherit_tcr_brand",
    "TCR_CAMPAIGN_MISSING": "campaigns",
    "PARENT_CAMPAIGNS_MISSING": "inherit_tcr_campaign",
    "KYC_FORM_MISSING": "kyc",
    "BRAND_MISSING": "brand",
    "COMPLIANCE_DOCUMENTS_MISSING": "compliance_documents",
    "TCR_INHERIT_CHOICE_MISSING": "inherit_tcr_brand",
}
#: 2026-10: the prerequisite checked after the already-onboarded answer.
AFTER_DONE = frozenset({"TCR_INHERIT_CHOICE_MISSING"})
PUBLIC_STATUS = {Outcome.SUBMITTED: "pending_review", Outcome.COMPLETED: "approved"}
DONE_STATUSES = {"submitted", "completed", "pending_review", "approved"}


def sign(secret: str, message_id: str, stamp: str, body: bytes) -> str:
    """The Standard Webhooks signature of a callback, made by the ``standardwebhooks`` library.

    Args:
        secret: ``whsec_`` followed by the base64 key.
        message_id: the ``webhook-id`` header.
        stamp: the ``webhook-timestamp`` header (whole seconds since the epoch).
        body: the exact bytes sent.

    Raises:
        ValueError: ``stamp`` is not a whole number or ``body`` is not UTF-8.
    """
    moment = datetime.fromtimestamp(int(stamp), tz=UTC)
    return Webhook(secret).sign(message_id, moment, body.decode("utf-8"))


def _refused(unmet: list[Any], rid: str, now: datetime) -> Reply:
    """400 naming every unmet prerequisite, by the field it concerns."""
    details: dict[str, list[str]] = {}
    for prerequisite in unmet:
        details.setdefault(PREREQUISITE_FIELDS[prerequisite.code], []).append(prerequisite.message)
    return error_reply(
        400, "VALIDATION_001", "Profile prerequisites are not met", rid, now, details=details
    )


class Completer:
    """Runs accepted completions in the background and delivers their callbacks."""

    def __init__(
        self,
        state: SandboxState,
        faults: FaultInjector,
        *,
        signing_secret: str | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.state = state
        self.faults = faults
        self.signing_secret = signing_secret
        self._signer: Webhook | None = None
        if signing_secret:
            check_signing_secret(signing_secret)
            self._signer = Webhook(signing_secret)
        self._http = http or httpx.Client(timeout=10, verify=shared_ssl_context())
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()
        self.callbacks_sent = 0
        self.callbacks_dropped = 0
        self._closed = False

    def request(self, record: ProfileRecord, body: dict[str, Any], rid: str) -> Reply:
        """``POST /v3/profiles/{id}/complete``: 400 with every unmet prerequisite, 200 when
        already done, otherwise 202 and a background completion."""
        state = self.state
        now = state.clock.now()
        url = body.get("webHookUrl")
        if not isinstance(url, str) or not url.strip():
            return error_reply(
                400, "VALIDATION_001", "Request validation failed", rid, now,
                details={"webHookUrl": ["webHookUrl is required"]},
            )  # fmt: skip
        unmet = unmet_prerequisites(state.facts(record))
        later = state.organization.api_revision == REVISION_2026_10
        first = [p for p in unmet if not (later and p.code in AFTER_DONE)]
        if first:  # 400 names every unmet one, the TCR choice too
            return _refused(unmet, rid, now)
        status = record.data["status"]
        if later and status == "approved":
            return ok_reply(
                200, {"status": "approved", "message": "Profile is already onboarded"}, rid, now
            )
        if not later and status in DONE_STATUSES:
            word = "completed" if status in ("completed", "approved") else "submitted"
            return ok_reply(
                200, {"status": word, "message": f"Profile is already {word}"}, rid, now
            )
        if unmet:
            return _refused(unmet, rid, now)
        if record.completion != "in_progress":
            record.completion = "in_progress"
            self._schedule(record.data["id"], url)
        return ok_reply(202, {"message": "Profile completion in progress"}, rid, now)

    def _schedule(self, profile_id: str, url: str) -> None:
        delay = self.state.organization.completion_delay_seconds
        timer = threading.Timer(delay, self._finish, args=(profile_id, url))
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _finish(self, profile_id: str, url: str) -> None:
        with self._lock:
            self._timers = {
                t for t in self._timers if t.is_alive() and t is not threading.current_thread()
            }
        with self.state.lock:
            record = self.state.profiles.get(profile_id)
            if record is None or record.deleted or record.completion != "in_progress":
                return
            record.data["updated_at"] = timestamp(self.state.clock.now())
            record.completion = "done"
            rejection = self.state.organization.rejection_reason
            later = self.state.organization.api_revision == REVISION_2026_10
            failure = self.state.organization.completion_failure_reason
            outcome: dict[str, Any]
            if later and failure is not None:
                # The run failed: the profile keeps its status, only the webhook says why.
                outcome = {"status": "failed", "reason": failure}
            elif later:
                record.data["status"] = "approved"  # onboarded, whatever channels or TCR
                outcome = {"status": "approved"}
            elif rejection is not None:
                # Sent's review said no: nothing is submitted, and the profile says why.
                record.data.update(status="rejected", rejection_reason=rejection)
                outcome = {"status": "rejected", "rejection_reason": rejection}
            else:
                record.data.pop("rejection_reason", None)  # a completion run again
                decision = status_logic(self.state.facts(record))
                public = self.state.organization.status_vocabulary == "public"
                record.data["status"] = (
                    PUBLIC_STATUS[decision.outcome] if public else decision.outcome.value
                )
                brand = record.brand
                if brand is not None and brand["compliance"].get("is_tcr_application"):
                    brand["submitted_to_tcr"] = True
                    brand["submitted_at"] = timestamp(self.state.clock.now())
                outcome = {"status": record.data["status"], "rule": decision.rule}
            payload = {
                "event": "profile.completion",
                "profile_id": profile_id,
                **outcome,
                "timestamp": timestamp(self.state.clock.now()),
            }
        self.deliver(url, payload)

    def deliver(self, url: str, payload: dict[str, Any]) -> None:
        """POST the callback (maybe dropped or duplicated, as the faults say)."""
        if self.faults.chance(self.faults.config.callback_drop_rate):
            self.callbacks_dropped += 1
            return
        copies = 2 if self.faults.chance(self.faults.config.callback_duplicate_rate) else 1
        body = json.dumps(payload).encode()
        message_id = "msg_" + uuid.uuid4().hex
        moment = self.state.clock.now()
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(moment.timestamp())),
        }
        if self._signer is not None:
            headers["webhook-signature"] = self._signer.sign(message_id, moment, body.decode())
        for _ in range(copies):
            if self._closed:
                return
            try:
                self._http.post(url, content=body, headers=headers)
                self.callbacks_sent += 1
            except (httpx.HTTPError, RuntimeError) as exc:  # engines poll: a lost call is fine
                log.warning("sandbox callback to %s failed: %s", url.split("?")[0], exc)

    def flush(self) -> None:
        """Finish every scheduled completion now (tests call this instead of waiting)."""
        with self._lock:
            timers = list(self._timers)
        for timer in timers:
            timer.cancel()
            self._finish(*timer.args)  # idempotent: a finished completion is skipped

    def close(self) -> None:
        """Cancel pending completions and close the HTTP client."""
        self._closed = True
        with self._lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
        self._http.close()
