"""One step per active state: the API calls, then an :class:`StepOutcome` for the engine to commit.

Steps never write to the database and never fire the machine: they read the checkpoint, call
Sent with deterministic Idempotency-Keys, and say what happened. The engine turns that into one
transaction (checkpoint + audit + attempts).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from workflow.errors import SecretUnavailableError, SentApiError
from workflow.ports import AttemptRecord, SentApi
from workflow.rules import (
    CompletionFacts,
    Outcome,
    channel_presence,
    has_main_destination_country,
    status_logic,
    unmet_prerequisites,
)
from workflow.secrets import FernetVault
from workflow.sent_models import Campaign, ProfileDetail
from workflow.spec import OnboardingSpec, OrganizationFacts

__all__ = ["KEY_WINDOW", "StepContext", "StepOutcome", "completion_facts", "run_step"]

#: Sent caches Idempotency-Key answers for 24 h; past 23 h we read before we create again.
KEY_WINDOW = timedelta(hours=23)
SUBMITTED_STATUSES = frozenset({"submitted", "pending_review"})
COMPLETED_STATUSES = frozenset({"completed", "approved"})
T = TypeVar("T")


@dataclass
class StepOutcome:
    """What a step achieved.

    kind:
        ``advance`` fire ``trigger``; ``progress`` save ``changes`` and run again now;
        ``wait`` come back at ``changes["next_attempt_at"]``; ``pause`` stop for a person.
    """

    kind: Literal["advance", "progress", "wait", "pause"]
    trigger: str | None = None
    trigger_kwargs: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    details: dict[str, Any] | None = None
    request_id: str | None = None
    delete_secret: bool = False


@dataclass
class StepContext:
    """Everything a step may use; it collects the attempts the step makes."""

    onboarding_id: str
    state: str
    spec: OnboardingSpec
    profile_id: str | None
    progress: dict[str, Any]
    generation: int
    attempt: int
    step_started_at: datetime | None
    completion_deadline: datetime | None
    api: SentApi
    vault: FernetVault
    secret_blob: Callable[[], bytes | None]
    now: datetime
    callback_url: str
    organization: OrganizationFacts
    poll_interval: float
    completion_timeout: float
    has_secrets: bool = False
    attempts: list[AttemptRecord] = field(default_factory=list)

    def key(self, step: str, item: int = 0) -> str:
        """The Idempotency-Key of (onboarding, step, item, generation): the same on every retry."""
        return f"onb-{self.onboarding_id}-{step}-{item}-g{self.generation}"

    def call(self, step: str, method: str, path: str, key: str | None, fn: Callable[[], T]) -> T:
        """Run one API call, recording it (status, code, request id, latency) either way."""
        started = time.perf_counter()
        try:
            result = fn()
        except SentApiError as exc:
            self.attempts.append(
                AttemptRecord(
                    step=step, attempt=self.attempt, method=method, path=path, at=self.now,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    outcome="retry" if exc.retryable else "failed", idempotency_key=key,
                    http_status=exc.status, error_code=exc.code, request_id=exc.request_id,
                    message=exc.message[:500],
                )
            )  # fmt: skip
            raise
        status = getattr(result, "status", 200)
        rid = getattr(result, "request_id", None)
        self.attempts.append(
            AttemptRecord(
                step=step, attempt=self.attempt, method=method, path=path, at=self.now,
                latency_ms=(time.perf_counter() - started) * 1000, outcome="ok",
                idempotency_key=key, http_status=status, request_id=rid,
            )
        )  # fmt: skip
        return result

    @property
    def past_key_window(self) -> bool:
        """Whether this step began so long ago that Sent may have forgotten its keys."""
        return self.step_started_at is not None and self.now - self.step_started_at >= KEY_WINDOW


def completion_facts(
    spec: OnboardingSpec,
    profile: ProfileDetail,
    campaigns: list[Campaign],
    own_campaign_ids: set[str],
    organization: OrganizationFacts,
) -> CompletionFacts:
    """The prerequisites' and Status Logic's inputs, read from Sent's view of the profile."""
    brand = profile.brand
    inherits_brand = (
        profile.inherit_tcr_brand
        if profile.inherit_tcr_brand is not None
        else spec.profile.inherits_brand
    )
    inherits_campaigns = (
        profile.inherit_tcr_campaign
        if profile.inherit_tcr_campaign is not None
        else spec.profile.inherits_campaigns
    )
    inherited_campaigns = [c for c in campaigns if c.id not in own_campaign_ids]
    view = profile.model_dump()
    waba = spec.profile.whatsapp_business_account
    if waba is not None:
        view["whatsapp_business_account"] = {"phone_number_id": waba.phone_number_id}
    has_sms, has_whatsapp = channel_presence(
        view, inherited_waba_has_phone_number=bool(organization.whatsapp_has_phone_number)
    )
    return CompletionFacts(
        profile_complete=all(
            bool((value or "").strip())
            for value in (profile.name, profile.short_name, profile.description)
        ),
        inherit_tcr_brand=bool(inherits_brand),
        inherit_tcr_campaign=bool(inherits_campaigns),
        has_own_brand=brand is not None and not brand.is_inherited,
        parent_has_brand=(brand is not None and bool(brand.is_inherited))
        or bool(organization.has_brand),
        is_tcr_application=brand.is_tcr_application if brand is not None else False,
        has_own_campaigns=any(c.id in own_campaign_ids for c in campaigns),
        parent_has_campaigns=bool(inherited_campaigns) or bool(organization.has_campaigns),
        has_sms=has_sms,
        has_whatsapp=has_whatsapp,
        has_main_destination_country=has_main_destination_country(
            brand.compliance if brand is not None else None
        ),
    )


def _profile_path(ctx: StepContext, suffix: str = "") -> str:
    return f"/v3/profiles/{ctx.profile_id}{suffix}"


def _create(ctx: StepContext) -> StepOutcome:
    spec = ctx.spec
    secrets: dict[str, str] = {}
    if ctx.has_secrets:
        try:
            secrets = ctx.vault.open(ctx.onboarding_id, ctx.secret_blob())
        except SecretUnavailableError as exc:
            return StepOutcome("pause", reason=str(exc), details={"code": "SECRET_UNAVAILABLE"})
    body = spec.create_body(secrets)
    if ctx.past_key_window:
        adopted = _reconcile_profile(ctx, body)
        if adopted is not None:
            return adopted
    key = ctx.key("create")
    created = ctx.call(
        "create",
        "POST",
        "/v3/profiles",
        key,
        lambda: ctx.api.create_profile(body, idempotency_key=key),
    )
    details: dict[str, Any] = {"profile_id": created.data.id}
    if "payment_details" in secrets:
        details["payment_details_sent"] = True
        details["card_last4"] = body["payment_details"]["card_number"][-4:]
    if "whatsapp_access_token" in secrets:
        details["whatsapp_access_token_sent"] = True
    return StepOutcome(
        "advance", "create_profile", changes={"profile_id": created.data.id},
        details=details, request_id=created.request_id, delete_secret=True,
    )  # fmt: skip


def _reconcile_profile(ctx: StepContext, body: dict[str, Any]) -> StepOutcome | None:
    """Past the key window, adopt a profile an earlier attempt created instead of a second one."""
    profiles = ctx.call("create", "GET", "/v3/profiles", None, ctx.api.list_profiles)
    matches = [
        p
        for p in profiles
        if (p.name, p.short_name, p.description)
        == (body.get("name"), body.get("short_name"), body.get("description"))
    ]
    if len(matches) != 1:
        return None
    return StepOutcome(
        "advance", "create_profile", changes={"profile_id": matches[0].id},
        details={"profile_id": matches[0].id, "reconciled": True}, delete_secret=True,
    )  # fmt: skip


def _brand(ctx: StepContext) -> StepOutcome:
    assert ctx.profile_id is not None
    if ctx.spec.brand is not None:
        key = ctx.key("brand")
        body = {"brand": ctx.spec.brand}
        updated = ctx.call(
            "brand", "PATCH", _profile_path(ctx), key,
            lambda: ctx.api.update_profile(ctx.profile_id or "", body, idempotency_key=key),
        )  # fmt: skip
        return StepOutcome(
            "advance", "attach_brand",
            details={"brand": "own", "brand_id": _brand_id(updated.data)},
            request_id=updated.request_id,
        )  # fmt: skip
    fetched = ctx.call(
        "brand", "GET", _profile_path(ctx), None, lambda: ctx.api.get_profile(ctx.profile_id or "")
    )
    brand = fetched.data.brand
    inherited = brand is not None and bool(brand.is_inherited)
    return StepOutcome(
        "advance", "attach_brand",
        details={
            "brand": "inherited" if inherited else "none", "brand_id": _brand_id(fetched.data)
        },
        request_id=fetched.request_id,
    )  # fmt: skip


def _brand_id(profile: ProfileDetail) -> str | None:
    return profile.brand.id if profile.brand is not None else None


def _campaigns(ctx: StepContext) -> StepOutcome:
    assert ctx.profile_id is not None
    created: dict[str, str] = dict(ctx.progress.get("campaign_ids") or {})
    for index, campaign in enumerate(ctx.spec.campaigns):
        if str(index) in created:
            continue
        key = ctx.key("campaign", index)
        if ctx.past_key_window:
            existing = ctx.call(
                "campaigns", "GET", _profile_path(ctx, "/campaigns"), None,
                lambda: ctx.api.list_campaigns(ctx.profile_id or ""),
            )  # fmt: skip
            known = set(created.values())
            match = next(
                (c for c in existing if c.id not in known and c.name == campaign.get("name")), None
            )
            if match is not None:
                created[str(index)] = match.id
                return StepOutcome(
                    "progress", changes={"progress": {**ctx.progress, "campaign_ids": created}}
                )
        result = ctx.call(
            "campaigns", "POST", _profile_path(ctx, "/campaigns"), key,
            lambda c=campaign, k=key: ctx.api.create_campaign(  # type: ignore[misc]
                ctx.profile_id or "", c, idempotency_key=k
            ),
        )  # fmt: skip
        created[str(index)] = result.data.id
        # Each campaign is its own checkpoint: a crash after this commit never creates it again.
        return StepOutcome(
            "progress", changes={"progress": {**ctx.progress, "campaign_ids": created}},
            request_id=result.request_id,
        )  # fmt: skip
    if ctx.spec.campaigns:
        return StepOutcome("advance", "attach_campaigns", details={"campaign_ids": created})
    listed = ctx.call(
        "campaigns", "GET", _profile_path(ctx, "/campaigns"), None,
        lambda: ctx.api.list_campaigns(ctx.profile_id or ""),
    )  # fmt: skip
    return StepOutcome("advance", "attach_campaigns", details={"inherited_campaigns": len(listed)})


def _complete(ctx: StepContext) -> StepOutcome:
    assert ctx.profile_id is not None
    channels = ctx.spec.channels_body()
    if channels and not ctx.progress.get("channels_done"):
        key = ctx.key("channels")
        ctx.call(
            "channels", "PATCH", _profile_path(ctx), key,
            lambda: ctx.api.update_profile(ctx.profile_id or "", channels, idempotency_key=key),
        )  # fmt: skip
        return StepOutcome(
            "progress", changes={"progress": {**ctx.progress, "channels_done": True}}
        )
    stored = ctx.progress.get("completion_facts")
    if stored is None:
        facts = _read_completion_facts(ctx)
        unmet = unmet_prerequisites(facts)
        if unmet:
            # Sent would refuse with 400: pause with every reason instead of calling it.
            return StepOutcome(
                "pause",
                reason="prerequisites not met: " + "; ".join(p.message for p in unmet),
                details={
                    "code": "PREREQUISITES",
                    "unmet": [{"code": p.code, "message": p.message} for p in unmet],
                },
            )
        # Checkpoint what was read, so a failing /complete is retried without reading again.
        progress = {**ctx.progress, "completion_facts": dataclasses.asdict(facts)}
        return StepOutcome("progress", changes={"progress": progress})
    facts = CompletionFacts(**stored)
    decision = status_logic(facts)
    key = ctx.key("complete")
    accepted = ctx.call(
        "complete", "POST", _profile_path(ctx, "/complete"), key,
        lambda: ctx.api.complete(ctx.profile_id or "", ctx.callback_url, idempotency_key=key),
    )  # fmt: skip
    return StepOutcome(
        "advance", "request_completion", trigger_kwargs={"facts": facts},
        changes={
            "predicted_outcome": decision.outcome.value,
            "predicted_rule": decision.rule,
            "completion_deadline": ctx.now + timedelta(seconds=ctx.completion_timeout),
            "next_attempt_at": ctx.now + timedelta(seconds=min(ctx.poll_interval, 1.0)),
        },
        details={
            "predicted": decision.outcome.value, "rule": decision.rule, "why": decision.reason,
            "http_status": accepted.status, "message": accepted.data.message,
        },
        request_id=accepted.request_id,
    )  # fmt: skip


def _read_completion_facts(ctx: StepContext) -> CompletionFacts:
    profile = ctx.call(
        "complete",
        "GET",
        _profile_path(ctx),
        None,
        lambda: ctx.api.get_profile(ctx.profile_id or ""),
    ).data
    campaigns = ctx.call(
        "complete", "GET", _profile_path(ctx, "/campaigns"), None,
        lambda: ctx.api.list_campaigns(ctx.profile_id or ""),
    )  # fmt: skip
    own_ids = set((ctx.progress.get("campaign_ids") or {}).values())
    return completion_facts(ctx.spec, profile, campaigns, own_ids, ctx.organization)


def _await(ctx: StepContext) -> StepOutcome:
    assert ctx.profile_id is not None
    fetched = ctx.call(
        "await", "GET", _profile_path(ctx), None, lambda: ctx.api.get_profile(ctx.profile_id or "")
    )
    status = (fetched.data.status or "").lower()
    for statuses, outcome in (
        (SUBMITTED_STATUSES, Outcome.SUBMITTED),
        (COMPLETED_STATUSES, Outcome.COMPLETED),
    ):
        if status in statuses:
            return StepOutcome(
                "advance", "conclude", trigger_kwargs={"outcome": outcome},
                changes={"actual_outcome": outcome.value}, details={"profile_status": status},
                request_id=fetched.request_id,
            )  # fmt: skip
    if status == "rejected":
        return StepOutcome(
            "pause", reason="Sent rejected the profile; review it in Sent, then rewind or cancel",
            details={"code": "REJECTED", "profile_status": status},
        )  # fmt: skip
    if ctx.completion_deadline is not None and ctx.now >= ctx.completion_deadline:
        return StepOutcome(
            "pause",
            reason=f"no completion result by {ctx.completion_deadline.isoformat()} "
            f"(profile status {status!r}); resume to keep waiting",
            details={"code": "COMPLETION_TIMEOUT", "profile_status": status},
        )
    return StepOutcome(
        "wait", changes={"next_attempt_at": ctx.now + timedelta(seconds=ctx.poll_interval)}
    )


STEPS: dict[str, Callable[[StepContext], StepOutcome]] = {
    "pending": _create,
    "incomplete": _brand,
    "brand": _campaigns,
    "campaigns": _complete,
    "complete": _await,
}


def run_step(ctx: StepContext) -> StepOutcome:
    """Run the step of ``ctx.state``.

    Raises:
        SentApiError: a call failed; the engine decides retry or pause from ``retryable``.
        KeyError: the state has no step (terminal or paused onboardings are never run).
    """
    return STEPS[ctx.state](ctx)
