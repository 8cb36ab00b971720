"""Typed views of Sent's v3 responses, tolerant of unknown fields and of both key casings.

Bounded where they are kept: an id longer than its column (:data:`~workflow.core.bounds.MAX_ID`) or
empty is not a reply the engine can act on (a cut id would name another resource), so it fails
validation; statuses and other text are cleaned and cut (:mod:`workflow.core.bounds`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from workflow.core.bounds import MAX_ID, MAX_STATUS, MAX_TEXT, bounded
from workflow.core.clock import as_utc

__all__ = [
    "ApiMeta",
    "Brand",
    "Campaign",
    "CompleteResult",
    "ProfileDetail",
    "SentResponse",
]


#: An id Sent gave a resource: 1 to 64 characters, as the columns that keep it.
SentId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID)]
#: A status word, cleaned and cut.
Status = Annotated[str, AfterValidator(lambda value: bounded(value, MAX_STATUS))]
#: Any other text that is kept (names, descriptions, phone numbers, brand ids), cleaned and cut.
Text = Annotated[str, AfterValidator(lambda value: bounded(value, MAX_TEXT))]


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


def _both(snake: str, camel: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(snake, camel))


def _moment(value: Any, handler: ValidatorFunctionWrapHandler) -> datetime | None:
    """A time Sent wrote, in UTC; ``None`` when it is missing or unreadable (never a failed
    reply: only ownership checks read it, and they treat an unknown time as unproven)."""
    try:
        moment: datetime | None = handler(value)
    except ValidationError:
        return None
    return as_utc(moment)


#: When Sent created a resource (``created_at``/``createdAt``).
CreatedAt = Annotated[datetime | None, WrapValidator(_moment)]


class ApiMeta(_Tolerant):
    """``meta``: the request id to quote to Sent, and when it answered."""

    request_id: str | None = None
    timestamp: str | None = None
    version: str | None = None


class Brand(_Tolerant):
    """The response ``brand`` (snake_case; ``destination_countries`` items keep ``isMain``)."""

    id: Text | None = None
    tcr_brand_id: Text | None = _both("tcr_brand_id", "tcrBrandId")
    status: Status | None = None
    submitted_to_tcr: bool | None = _both("submitted_to_tcr", "submittedToTcr")
    is_inherited: bool | None = _both("is_inherited", "isInherited")
    contact: dict[str, Any] | None = None
    business: dict[str, Any] | None = None
    compliance: dict[str, Any] | None = None

    @property
    def is_tcr_application(self) -> bool:
        """Whether the brand is a TCR application (either key casing)."""
        compliance = self.compliance or {}
        value = compliance.get("is_tcr_application", compliance.get("isTcrApplication"))
        return bool(value)


class ProfileDetail(_Tolerant):
    """``ProfileDetail``: what create, get, update and list return for a profile."""

    id: SentId
    organization_id: Text | None = _both("organization_id", "organizationId")
    name: Text | None = None
    short_name: Text | None = _both("short_name", "shortName")
    description: Text | None = None
    status: Status | None = None
    inherit_tcr_brand: bool | None = _both("inherit_tcr_brand", "inheritTcrBrand")
    inherit_tcr_campaign: bool | None = _both("inherit_tcr_campaign", "inheritTcrCampaign")
    billing_model: Text | None = _both("billing_model", "billingModel")
    sending_phone_number: Text | None = _both("sending_phone_number", "sendingPhoneNumber")
    whatsapp_phone_number: Text | None = _both("whatsapp_phone_number", "whatsappPhoneNumber")
    sending_phone_number_profile_id: Text | None = _both(
        "sending_phone_number_profile_id", "sendingPhoneNumberProfileId"
    )
    sending_whatsapp_number_profile_id: Text | None = _both(
        "sending_whatsapp_number_profile_id", "sendingWhatsappNumberProfileId"
    )
    waba_id: Text | None = _both("waba_id", "wabaId")
    brand: Brand | None = None
    created_at: CreatedAt = _both("created_at", "createdAt")


class Campaign(_Tolerant):
    """A campaign (``TcrCampaignWithUseCases``, camelCase on the wire)."""

    id: SentId
    name: Text | None = None
    status: Status | None = None
    brand_id: Text | None = _both("brand_id", "brandId")
    submitted_to_tcr: bool | None = _both("submitted_to_tcr", "submittedToTCR")
    tcr_campaign_id: Text | None = _both("tcr_campaign_id", "tcrCampaignId")
    use_cases: list[dict[str, Any]] | None = _both("use_cases", "useCases")
    created_at: CreatedAt = _both("created_at", "createdAt")


class CompleteResult(_Tolerant):
    """``/complete``'s answer: ``status`` is set when the profile was already done."""

    message: Text | None = None
    status: Status | None = None


T = TypeVar("T")


class SentResponse(BaseModel, Generic[T]):
    """A parsed success: the data, the HTTP status and Sent's request id."""

    model_config = ConfigDict(frozen=True)

    data: T
    status: int
    request_id: str | None = None
    #: ``Idempotent-Replayed: true``: Sent answered from its cache for the Idempotency-Key,
    #: first given to the request ``original_request_id`` (``X-Original-Request-Id``).
    replayed: bool = False
    original_request_id: str | None = None
