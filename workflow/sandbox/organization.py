"""The parent organization the sandbox pretends to be, and how it behaves.

Replaceable while the sandbox runs (``PUT /_sandbox/organization``); re-exported by
:mod:`workflow.sandbox` and :mod:`workflow.sandbox.state`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from workflow.sandbox.listing import MAX_PAGE_SIZE

__all__ = ["OrganizationConfig"]


class OrganizationConfig(BaseModel):
    """The parent organization the sandbox pretends to be, for every inherit path."""

    model_config = ConfigDict(extra="forbid")

    id: str = "550e8400-e29b-41d4-a716-446655440000"
    exists: bool = True  # False: every call answers 404 RESOURCE_005
    email: str = "team@acme.com"
    has_brand: bool = True
    brand_is_tcr_application: bool = True
    has_campaigns: bool = True
    has_whatsapp_account: bool = True
    waba_id: str = "100200300400500"
    whatsapp_phone_number_id: str | None = "600700800900100"
    api_keys: list[str] = ["sandbox-key"]
    completion_delay_seconds: float = 0.2
    #: "complete" answers submitted/completed; "public" answers pending_review/approved.
    status_vocabulary: str = "complete"
    #: None: ``GET /v3/profiles`` answers one list (seed era); a number: pages of that many,
    #: with ``data.pagination``, as later API versions answer.
    list_page_size: int | None = Field(default=None, ge=1, le=MAX_PAGE_SIZE)
    #: Set: every completion ends ``rejected`` and the profile reads back this
    #: ``rejection_reason``.
    rejection_reason: str | None = Field(default=None, min_length=1)
    #: The Sent API revision played: "2026-03" (the seeds') or "2026-10" (SDK 0.46's).
    api_revision: Literal["2026-03", "2026-10"] = "2026-03"
    #: 2026-10: whether the organization submitted its KYC form (each profile may override).
    kyc_submitted: bool = True
    #: 2026-10: whether the main destination countries' compliance documents are uploaded.
    documents_uploaded: bool = True
    #: 2026-10: set, every background completion fails with this reason: the profile keeps
    #: its status and the webhook reports the reason.
    completion_failure_reason: str | None = Field(default=None, min_length=1)
    #: ``/complete`` requests per minute per API key (a sliding minute); 0: no limit.
    complete_per_minute: float = Field(default=0.0, ge=0)
