"""Starting onboardings, decided without the store: the new checkpoint with its first audit row
and sealed secrets, and whether a key already taken names the very same spec.

:meth:`~workflow.management.onboardings.Onboardings.start_many` builds the new onboardings here
and stores them in one transaction; the store calls :func:`check_same` for each key it finds
taken, inside that transaction.
"""

from __future__ import annotations

import dataclasses
import hmac
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime

from workflow.core.audit_chain import chained
from workflow.core.errors import SpecConflictError
from workflow.core.spec import OnboardingSpec, changed_paths, find_key_conflicts
from workflow.flows import FlowDefinition
from workflow.ports import AuditEntry, Checkpoint, NewOnboarding, Vault

__all__ = ["check_same", "new_onboarding", "refuse_repeated_keys", "secrets_fingerprint"]

#: Reads an onboarding's sealed secrets, if still held.
ReadSecret = Callable[[str], bytes | None]


def refuse_repeated_keys(specs: Sequence[OnboardingSpec]) -> None:
    """Raise when two specs of one batch share a key with different content.

    Raises:
        SpecConflictError: naming the key when only one is repeated.
    """
    conflicts = find_key_conflicts(specs)
    if conflicts:
        given = Counter(spec.key for spec in specs)
        repeated = [key for key, count in given.items() if count > 1]
        raise SpecConflictError(
            "; ".join(str(c) for c in conflicts),
            key=repeated[0] if len(repeated) == 1 else None,
        )


def new_onboarding(
    spec: OnboardingSpec,
    actor: str,
    now: datetime,
    flow: FlowDefinition,
    sent_api: str,
    vault: Vault,
) -> NewOnboarding:
    """A new onboarding of ``spec`` under ``flow`` and the Sent API revision ``sent_api``, due
    now: its checkpoint, its first (chained) audit row, and its secrets sealed by ``vault``."""
    secrets = spec.secret_values()
    checkpoint = Checkpoint(
        id=uuid.uuid4().hex, key=spec.key, fingerprint=spec.fingerprint(),
        spec=spec.storable(), state=flow.machine.path[0], version=0,
        created_at=now, updated_at=now, next_attempt_at=now, flow_version=flow.version,
        sent_api=sent_api, has_secrets=bool(secrets),
        secrets_fingerprint=secrets_fingerprint(vault, secrets), created_by=actor,
    )  # fmt: skip
    entry = chained(
        checkpoint,
        AuditEntry("start", None, checkpoint.state, actor, now, details={"key": spec.key}),
        vault,
    )
    checkpoint = dataclasses.replace(
        checkpoint, audit_seq=entry.seq, audit_head=entry.digest, audit_anchor=entry.anchor
    )
    return NewOnboarding(checkpoint, entry, vault.seal(secrets) if secrets else None)


def check_same(
    stored: Checkpoint, spec: OnboardingSpec, vault: Vault, read_secret: ReadSecret
) -> None:
    """Raise unless ``spec`` is the one ``stored`` was started (or last amended) with.

    Raises:
        SpecConflictError: another spec, or other secrets, under the same key.
    """
    hint = "start it under a new key, or amend it while it is paused or not yet started"
    if stored.fingerprint != spec.fingerprint():
        paths = changed_paths(stored.spec, spec.storable())
        raise SpecConflictError(
            f"key {spec.key!r} already names onboarding {stored.id} with a different spec "
            f"(changed: {', '.join(paths) or 'field order'}); {hint}",
            key=spec.key,
        )
    if not _same_secrets(stored, spec.secret_values(), vault, read_secret):
        raise SpecConflictError(
            f"key {spec.key!r} already names onboarding {stored.id} with other payment "
            f"details or WhatsApp token; {hint}",
            key=spec.key,
        )


def secrets_fingerprint(vault: Vault, secrets: dict[str, str]) -> str:
    """The keyed fingerprint of a spec's secrets (``""`` for a spec without secrets: comparable
    without the vault key, which a server database's start may not have when nothing is to be
    sealed)."""
    return vault.fingerprint(secrets) if secrets else ""


def _same_secrets(
    stored: Checkpoint, secrets: dict[str, str], vault: Vault, read_secret: ReadSecret
) -> bool:
    """Whether ``secrets`` are the ones ``stored`` was started (or last amended) with.

    Compared by their keyed fingerprint, which outlives the sealed secrets: the same spec is
    recognised after its secrets were sent and deleted. A row stored before fingerprints
    were kept is compared with its sealed secrets while they are held; once they are gone
    nothing is left to compare with, and the spec (equal in every other field) is taken as
    the one already started.
    """
    if stored.secrets_fingerprint is not None:
        return hmac.compare_digest(stored.secrets_fingerprint, secrets_fingerprint(vault, secrets))
    if not secrets and not stored.has_secrets:
        return True
    held = read_secret(stored.id)
    if held is None:
        return True
    return secrets == vault.open(stored.id, held)
