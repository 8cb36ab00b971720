"""The Sent API's request rules as pure functions over wire-shaped bodies.

Both sides use these: the spec validator checks a caller's onboarding locally before any API
call, and the sandbox answers ``VALIDATION_001`` with the very same paths and sentences. Every
function returns *every* problem it finds (never the first only), keyed by the field path the
API uses in ``error.details``; callers add their own prefix (``profile.``, ``campaigns[2].``).

Every field is checked as the API types it: strings are strings, booleans are ``true`` or
``false``, enumerations take their listed values, fields the API does not define are refused
as ``unknown field``, and every string and list has a size limit
(:mod:`workflow.core.validation.limits` lists them in a table). Messages that the seeds show are
reproduced word for word; the others follow their style and never quote the refused value.

Modules: :mod:`~workflow.core.validation.limits` (sizes and depth),
:mod:`~workflow.core.validation.fields` (typed field rules),
:mod:`~workflow.core.validation.profile`, :mod:`~workflow.core.validation.brand` and
:mod:`~workflow.core.validation.campaign` (the API's objects).
"""

from workflow.core.validation.brand import (
    BRAND_RELATIONSHIPS,
    ENTITY_TYPES,
    VERTICALS,
    validate_brand,
)
from workflow.core.validation.campaign import (
    MESSAGING_USE_CASES,
    validate_campaign,
    validate_campaign_request,
)
from workflow.core.validation.fields import UNKNOWN_FIELD, unstorable_text, validate_idempotency_key
from workflow.core.validation.limits import (
    MAX_DEPTH,
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_LIST_ITEMS,
    MAX_NAME_CHARS,
    MAX_SAMPLE_MESSAGE_CHARS,
    MAX_SAMPLE_MESSAGES,
    MAX_SPEC_BYTES,
    MAX_TEXT_CHARS,
    MAX_URL_CHARS,
    MAX_VALUES,
    json_nesting_overflow,
    structure_problem,
)
from workflow.core.validation.profile import (
    BILLING_MODELS,
    BRAND_WITH_INHERIT,
    CHANNEL_FIELDS,
    EXPIRY_FORMAT,
    NAME_REQUIRED,
    SHORT_NAME_RULE,
    validate_channels,
    validate_profile_body,
)

__all__ = [
    "BILLING_MODELS",
    "BRAND_RELATIONSHIPS",
    "BRAND_WITH_INHERIT",
    "CHANNEL_FIELDS",
    "ENTITY_TYPES",
    "EXPIRY_FORMAT",
    "MAX_DEPTH",
    "MAX_IDEMPOTENCY_KEY_CHARS",
    "MAX_LIST_ITEMS",
    "MAX_NAME_CHARS",
    "MAX_SAMPLE_MESSAGES",
    "MAX_SAMPLE_MESSAGE_CHARS",
    "MAX_SPEC_BYTES",
    "MAX_TEXT_CHARS",
    "MAX_URL_CHARS",
    "MAX_VALUES",
    "MESSAGING_USE_CASES",
    "NAME_REQUIRED",
    "SHORT_NAME_RULE",
    "UNKNOWN_FIELD",
    "VERTICALS",
    "json_nesting_overflow",
    "structure_problem",
    "unstorable_text",
    "validate_brand",
    "validate_campaign",
    "validate_campaign_request",
    "validate_channels",
    "validate_idempotency_key",
    "validate_profile_body",
]
