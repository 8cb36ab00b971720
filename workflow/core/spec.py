"""What a caller submits to onboard one sender profile, in the API's own field names.

An :class:`OnboardingSpec` holds the ``POST /v3/profiles`` body (snake_case, without ``brand``),
the ``brand`` object and the campaign bodies exactly as the API takes them (camelCase), the
update-only channel fields, and optional facts about the parent organization. Copy from Sent's
docs and it fits.

:func:`parse_spec` checks a raw document against every API rule at once
(:mod:`workflow.core.validation`) and against the spec's own shape, and raises one
:class:`~workflow.core.errors.SpecError` listing every problem by field path. Payment details and
the WhatsApp access token are ``SecretStr``: they never show in ``repr``, logs or exceptions, and
:meth:`OnboardingSpec.storable` leaves them out.

Every field is typed as strictly as the API types it (no ``"true"`` for a boolean, no number for
a string), sized (:mod:`workflow.core.validation.limits`) and known: an unknown field anywhere is an
error. :func:`find_key_conflicts` finds one key given twice with different content.
Files are read by :func:`workflow.core.spec_files.load_documents`, and the models live in
:mod:`workflow.core.spec_model`; both are re-exported here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, Final, NamedTuple

from pydantic import SecretStr, ValidationError

from workflow.core.errors import Problem, SpecError
from workflow.core.redaction import redact
from workflow.core.spec_files import decode_json_text, load_documents
from workflow.core.spec_model import (
    BillingContact,
    ChannelsSpec,
    OnboardingSpec,
    OrganizationFacts,
    PaymentDetails,
    ProfileSpec,
    WhatsAppBusinessAccount,
)
from workflow.core.validation import (
    MAX_LIST_ITEMS,
    structure_problem,
    unstorable_text,
    validate_campaign,
    validate_channels,
    validate_idempotency_key,
    validate_profile_body,
)

__all__ = [
    "BillingContact",
    "ChannelsSpec",
    "OnboardingSpec",
    "OrganizationFacts",
    "PaymentDetails",
    "ProfileSpec",
    "SourcedSpec",
    "WhatsAppBusinessAccount",
    "find_key_conflicts",
    "load_documents",
    "parse_documents",
    "parse_spec",
    "read_specs",
]


#: Why ``sandbox: true`` is refused in a spec (see the README, "The sandbox").
SIMULATED_ONBOARDING: Final = (
    "sandbox: true makes Sent simulate each call without side effects, so the profile the "
    "create answers does not exist for the next step and an onboarding cannot run simulated end "
    "to end; leave it out and point the engine at the sandbox server instead "
    "('onboarding sandbox serve', then --api-url http://127.0.0.1:8765)"
)


def _reveal(value: Any) -> Any:
    """A copy of raw input with SecretStr-like values made plain, so the rules can read them."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Mapping):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


def _pydantic_problems(exc: ValidationError, known: set[str]) -> list[Problem]:
    problems = []
    for error in exc.errors():
        path = ""
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        if path in known or any(path.startswith(k + ".") for k in known):
            continue  # already reported by an API rule, in the API's words
        message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
        problems.append(Problem(path or "spec", message))
    return problems


def parse_spec(raw: object, *, today: date, source: str | None = None) -> OnboardingSpec:
    """Check a raw spec document against every rule and build the :class:`OnboardingSpec`.

    Args:
        raw: the decoded JSON/YAML object (a ``dict``), or JSON text (``str`` or UTF-8
            ``bytes``) holding one spec object; text is read with the rules of spec files
            (size cap, depth, no repeated key).
        today: the date card expiry is judged against.
        source: where the document came from, named in the error.

    Raises:
        SpecError: listing every problem at once, each with its field path; JSON text that
            cannot be read is one problem naming why (with its line and column).
    """
    if isinstance(raw, str | bytes | bytearray):
        try:
            raw = decode_json_text(raw)
        except SpecError as exc:
            raise SpecError(exc.problems, source=source) from None
    if not isinstance(raw, Mapping):
        raise SpecError([Problem("spec", "an onboarding spec must be an object")], source=source)
    # Before anything walks the document recursively (copying, pydantic, the rules).
    shape = structure_problem(raw)
    if shape is not None:
        raise SpecError([Problem("spec", shape)], source=source)
    data = _reveal(raw)
    # Alone: the other rules would judge (and quote into messages) text that cannot be written.
    unstorable = unstorable_text(data)
    if unstorable:
        raise SpecError([Problem(redact(p.path), p.message) for p in unstorable], source=source)
    problems = _rule_problems(data, today)
    known = {p.path for p in problems}
    try:
        spec = OnboardingSpec.model_validate(raw)
    except ValidationError as exc:
        problems += _pydantic_problems(exc, known)
        spec = None
    if problems or spec is None:
        # Paths name unknown fields as given: a card number used as a key must not show.
        raise SpecError(
            [Problem(redact(p.path), redact(p.message)) for p in problems], source=source
        )
    return spec


def _rule_problems(data: Mapping[str, Any], today: date) -> list[Problem]:
    """Every API rule the document breaks (key, profile, brand, campaigns, channels)."""
    problems: list[Problem] = []
    key = data.get("key")
    if key is None:
        problems.append(Problem("key", "key is required"))
    else:
        problems += validate_idempotency_key(key, "key")
    profile = data.get("profile")
    if not isinstance(profile, Mapping):
        problems.append(Problem("profile", "profile is required and must be an object"))
        profile = {}
    if "brand" in profile:
        problems.append(Problem("profile.brand", "give the brand at the top level, as 'brand'"))
    if profile.get("sandbox") is True:
        problems.append(Problem("profile.sandbox", SIMULATED_ONBOARDING))
    brand = data.get("brand")
    body = {k: v for k, v in profile.items() if k != "brand"}
    if brand is not None:
        body["brand"] = brand
    for problem in validate_profile_body(body, today=today):
        problems.append(
            problem
            if problem.path.startswith("brand")
            else Problem(f"profile.{problem.path}", problem.message)
        )
    problems += _campaign_problems(data.get("campaigns"))
    channels = data.get("channels")
    if isinstance(channels, Mapping):
        problems += [Problem(f"channels.{p.path}", p.message) for p in validate_channels(channels)]
    return problems


def _campaign_problems(campaigns: object) -> list[Problem]:
    problems: list[Problem] = []
    if campaigns is None:
        return problems
    if not isinstance(campaigns, list):
        return [Problem("campaigns", "campaigns must be a list")]
    if len(campaigns) > MAX_LIST_ITEMS:
        return [Problem("campaigns", f"campaigns must hold at most {MAX_LIST_ITEMS} items")]
    for index, campaign in enumerate(campaigns):
        path = f"campaigns[{index}]"
        if isinstance(campaign, Mapping):
            problems += validate_campaign(campaign, path)
        else:
            problems.append(Problem(path, f"{path} must be an object"))
    return problems


class SourcedSpec(NamedTuple):
    """A parsed spec and where it came from (``file`` or ``file[index]``)."""

    source: str
    spec: OnboardingSpec


def read_specs(
    paths: Iterable[str | Path], *, today: date, max_bytes: int | None = None
) -> tuple[list[SourcedSpec], list[SpecError]]:
    """Parse every spec in every file; returns the valid specs with their sources, and one
    error per unreadable file or invalid spec.

    Args:
        paths: spec files, each holding one spec or a list.
        today: the date card expiry is judged against.
        max_bytes: the size cap per file (default ``ONBOARDING_MAX_SPEC_BYTES`` or 10 MB).
    """
    specs: list[SourcedSpec] = []
    errors: list[SpecError] = []
    for path in paths:
        try:
            documents = load_documents(path, max_bytes=max_bytes)
        except SpecError as exc:
            errors.append(exc)
            continue
        if not documents:
            errors.append(
                SpecError([Problem("file", "it holds no spec (an empty list)")], source=str(path))
            )
        for index, document in enumerate(documents):
            source = f"{path}" if len(documents) == 1 else f"{path}[{index}]"
            try:
                specs.append(SourcedSpec(source, parse_spec(document, today=today, source=source)))
            except SpecError as exc:
                errors.append(exc)
    return specs, errors


def parse_documents(
    paths: Iterable[str | Path], *, today: date, max_bytes: int | None = None
) -> tuple[list[OnboardingSpec], list[SpecError]]:
    """Parse every spec in every file; returns the valid specs and one error per invalid spec."""
    specs, errors = read_specs(paths, today=today, max_bytes=max_bytes)
    return [item.spec for item in specs], errors


def _content_digest(spec: OnboardingSpec) -> str:
    # The fingerprint leaves the secrets out; entries differing only in card data differ too.
    # The digest stays in memory: it is compared, never shown or stored.
    secrets = json.dumps(spec.secret_values(), sort_keys=True)
    return hashlib.sha256(f"{spec.fingerprint()}:{secrets}".encode()).hexdigest()


def find_key_conflicts(
    specs: Iterable[OnboardingSpec | tuple[str, OnboardingSpec]],
) -> list[SpecError]:
    """Entries that reuse an earlier entry's ``key`` with different content.

    One key is one onboarding: the same spec given twice is fine (starting it is idempotent),
    but two different specs under one key would silently keep only the first. Pure: compares
    content (secrets included, through a digest) and reports, nothing else.

    Args:
        specs: parsed specs, each alone (named ``entry N``) or with its source.

    Returns:
        One :class:`SpecError` per conflicting entry, sourced at that entry, its ``key``
        problem naming where the key was first given.
    """
    first: dict[str, tuple[str, str]] = {}
    conflicts: list[SpecError] = []
    for number, item in enumerate(specs, start=1):
        source, spec = item if isinstance(item, tuple) else (f"entry {number}", item)
        digest = _content_digest(spec)
        if spec.key not in first:
            first[spec.key] = (source, digest)
            continue
        where, reference = first[spec.key]
        if digest != reference:
            message = (
                f"key {spec.key!r} is also given in {where} with different content; "
                "one key is one onboarding: give each spec its own key"
            )
            conflicts.append(SpecError([Problem("key", message)], source=source))
    return conflicts


def changed_paths(before: Any, after: Any, prefix: str = "") -> list[str]:
    """The field paths (``profile.description``, ``campaigns[0].name``) that differ."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        paths: list[str] = []
        for name in sorted(set(before) | set(after), key=str):
            path = f"{prefix}.{name}" if prefix else str(name)
            paths += changed_paths(before.get(name), after.get(name), path)
        return paths
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        paths = []
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            paths += changed_paths(old, new, f"{prefix}[{index}]")
        return paths
    return [] if before == after else [prefix or "spec"]
