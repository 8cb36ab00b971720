"""Starting and operating onboardings: start, resume, retry, rewind, cancel, amend, bulk.

:class:`Onboardings` needs only the store and the vault (to seal secrets): it never calls Sent.
Every change goes through the machine (an invalid action raises and changes nothing) and is one
version-checked commit with its chained audit row, naming the actor and the reason. What Sent
must see (a deletion, a re-sent step) is done by the worker, from the records written here.
"""

from __future__ import annotations

import dataclasses
import hmac
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from workflow.core.audit_chain import chained
from workflow.core.clock import Clock, SystemClock
from workflow.core.errors import (
    AuditAnchorError,
    ConcurrencyError,
    GuardRejectedError,
    SpecConflictError,
    TransitionError,
    UnresolvedCreateError,
)
from workflow.core.machine import OnboardingFlow
from workflow.core.rules import DEFAULT_REVISION, check_revision
from workflow.core.spec import OnboardingSpec, changed_paths, find_key_conflicts
from workflow.core.transition import Firing, transition
from workflow.flows import FLOW, FLOWS, FlowDefinition
from workflow.following.waiting import Following
from workflow.management.adoption import decided
from workflow.management.decisions import (
    COMPLETION_FACTS,
    PROFILE_UPDATE,
    is_unresolved_create,
    patchable_profile_fields,
    profile_update,
    refreshed_facts,
    refusal,
    renewed_key,
    running,
    sent_paths,
    unresolved_creates,
    unresolved_refusal,
)
from workflow.ports import (
    AuditEntry,
    Checkpoint,
    CheckpointUpdate,
    ManagementStore,
    NewOnboarding,
    StepRecord,
    Vault,
)

if TYPE_CHECKING:
    from workflow.management.bulk import BulkReport
    from workflow.management.selection import Selector

__all__ = ["Onboardings"]

_OPERATOR_RETRIES = 5
#: What an operator's resume, retry, rewind (or a cancel that deletes at Sent) resets.
_FRESH_STEP: dict[str, Any] = {
    "attempts": 0, "step_started_at": None, "last_error": None, "completion_deadline": None,
}  # fmt: skip


class Onboardings(Following):
    """Start onboardings and act on them as an operator; thread-safe.

    Also finds them, waits for them and follows their events
    (:class:`~workflow.following.waiting.Following`).
    :class:`~workflow.management.aio.AsyncOnboardings` has the same methods for asyncio. As a
    context manager (or with :meth:`close`) it stops the subscribers it started and ends its
    ``events`` loops; the store stays open.

    Args:
        store: any implementation of the management port.
        vault: seals secrets at start and at amend, and anchors every audit row written
            (its key is the one the log's anchors are checked with).
        clock: the time (default: the system clock).
        flow: the flow new onboardings start under (default: the current one).
        sent_api: the Sent API revision new onboardings start under (``2026-03``, the seeds';
            ``2026-10``, SDK 0.46's); each keeps its own, as it keeps its flow version.
    """

    def __init__(
        self,
        store: ManagementStore,
        vault: Vault,
        *,
        clock: Clock | None = None,
        flow: FlowDefinition | None = None,
        sent_api: str = DEFAULT_REVISION,
    ) -> None:
        super().__init__()
        self.store = store
        self.vault = vault
        self.clock = clock or SystemClock()
        self.flow = flow or FLOW
        #: The Sent API revision new onboardings start under (each keeps its own).
        self.sent_api = check_revision(sent_api)

    # ------------------------------------------------------------------ start
    def start(self, spec: OnboardingSpec, *, actor: str = "api") -> Checkpoint:
        """Store a validated spec as a new onboarding, due now. Idempotent on ``spec.key``.

        Raises:
            SpecConflictError: the key was used before with a different spec or other secrets.
        """
        return self.start_many([spec], actor=actor)[0][0]

    def start_many(
        self, specs: Sequence[OnboardingSpec], *, actor: str = "api"
    ) -> list[tuple[Checkpoint, bool]]:
        """Store every spec in one transaction, or none; returns ``(checkpoint, created)`` each.

        Raises:
            SpecConflictError: two specs share a key with different content, or a key is taken
                by a different spec; nothing was stored.
        """
        conflicts = find_key_conflicts(specs)
        if conflicts:
            given = Counter(spec.key for spec in specs)
            repeated = [key for key, count in given.items() if count > 1]
            raise SpecConflictError(
                "; ".join(str(c) for c in conflicts),
                key=repeated[0] if len(repeated) == 1 else None,
            )
        now = self.clock.now()
        unique = {spec.key: spec for spec in specs}
        new = [self._new(spec, actor, now) for spec in unique.values()]
        # Inside the store's transaction: one conflicting key and nothing of the batch is stored.
        return self.store.insert_many(
            new, check=lambda stored, item: self._check_same(stored, unique[item.checkpoint.key])
        )

    def _new(self, spec: OnboardingSpec, actor: str, now: datetime) -> NewOnboarding:
        onboarding_id = uuid.uuid4().hex
        secrets = spec.secret_values()
        checkpoint = Checkpoint(
            id=onboarding_id, key=spec.key, fingerprint=spec.fingerprint(),
            spec=spec.storable(), state=self.flow.machine.path[0], version=0,
            created_at=now, updated_at=now, next_attempt_at=now, flow_version=self.flow.version,
            sent_api=self.sent_api, has_secrets=bool(secrets),
            secrets_fingerprint=self._secrets_fingerprint(secrets), created_by=actor,
        )  # fmt: skip
        entry = chained(
            checkpoint,
            AuditEntry("start", None, checkpoint.state, actor, now, details={"key": spec.key}),
            self.vault,
        )
        checkpoint = dataclasses.replace(
            checkpoint, audit_seq=entry.seq, audit_head=entry.digest, audit_anchor=entry.anchor
        )
        return NewOnboarding(checkpoint, entry, self.vault.seal(secrets) if secrets else None)

    def _check_same(self, stored: Checkpoint, spec: OnboardingSpec) -> None:
        hint = "start it under a new key, or amend it while it is paused or not yet started"
        if stored.fingerprint != spec.fingerprint():
            paths = changed_paths(stored.spec, spec.storable())
            raise SpecConflictError(
                f"key {spec.key!r} already names onboarding {stored.id} with a different spec "
                f"(changed: {', '.join(paths) or 'field order'}); {hint}",
                key=spec.key,
            )
        if not self._same_secrets(stored, spec.secret_values()):
            raise SpecConflictError(
                f"key {spec.key!r} already names onboarding {stored.id} with other payment "
                f"details or WhatsApp token; {hint}",
                key=spec.key,
            )

    def _secrets_fingerprint(self, secrets: dict[str, str]) -> str:
        # "" for a spec without secrets: comparable without the vault key, which a server
        # database's start may not have when nothing is to be sealed.
        return self.vault.fingerprint(secrets) if secrets else ""

    def _same_secrets(self, stored: Checkpoint, secrets: dict[str, str]) -> bool:
        """Whether ``secrets`` are the ones ``stored`` was started (or last amended) with.

        Compared by their keyed fingerprint, which outlives the sealed secrets: the same spec is
        recognised after its secrets were sent and deleted. A row stored before fingerprints
        were kept is compared with its sealed secrets while they are held; once they are gone
        nothing is left to compare with, and the spec (equal in every other field) is taken as
        the one already started.
        """
        if stored.secrets_fingerprint is not None:
            return hmac.compare_digest(
                stored.secrets_fingerprint, self._secrets_fingerprint(secrets)
            )
        if not secrets and not stored.has_secrets:
            return True
        held = self.store.read_secret(stored.id)
        if held is None:
            return True
        return secrets == self.vault.open(stored.id, held)

    # -------------------------------------------------------------- operators
    def resume(
        self,
        id_or_key: str,
        *,
        actor: str,
        reason: str,
        batch_id: str | None = None,
        adopt: str | None = None,
        create_new: bool = False,
    ) -> Checkpoint:
        """Resume a paused onboarding where it paused, with a fresh retry budget.

        A wait for the completion result starts again, with a new deadline. After an
        ``OWNERSHIP_UNPROVEN`` pause a person says which candidate is this onboarding's
        (``adopt``: one of those listed, held by no other onboarding) or that none is
        (``create_new``: the create goes out under a new key, and the candidates are never
        considered again for it); a plain resume looks at Sent again.

        Raises:
            TransitionError: ``adopt``/``create_new`` given without such a pause, or ``adopt``
                naming an id that was not listed or that another onboarding holds.
        """
        options: dict[str, Any] = {}
        if adopt is not None or create_new:
            options = {"adopt": adopt, "create_new": create_new}
        return self._operate(id_or_key, "resume", actor, reason, batch_id, **options)

    def retry(
        self, id_or_key: str, *, actor: str, reason: str, batch_id: str | None = None
    ) -> Checkpoint:
        """Run the current step again now: resume if paused, else skip the backoff wait."""
        return self._operate(id_or_key, "retry", actor, reason, batch_id)

    def cancel(
        self,
        id_or_key: str,
        *,
        actor: str,
        reason: str,
        delete_at_sent: bool = False,
        batch_id: str | None = None,
    ) -> Checkpoint:
        """End an onboarding for good; its secrets are deleted.

        With ``delete_at_sent`` it first passes through ``cancelling``, where the worker deletes
        every profile proven its own (each one Sent answered for it, and the one a lost reply
        made when its attempts prove it; 404 counts as done) and lists in the audit row, never
        deleting, one that may be its own but is not proven; without it nothing at Sent is
        touched.
        """
        return self._operate(
            id_or_key, "cancel", actor, reason, batch_id, delete_at_sent=delete_at_sent
        )

    def rewind(
        self,
        id_or_key: str,
        target: str,
        *,
        actor: str,
        reason: str,
        delete_at_sent: bool = False,
        batch_id: str | None = None,
    ) -> Checkpoint:
        """Go back to an earlier state; its step and every later one run again under new keys.

        What earlier steps produced is kept (a new generation starts from their records, as
        DBOS forks a workflow). A create that may have been applied (a campaign created, or a
        lost reply) is looked up at Sent before anything is created again, and adopted only when
        proven this onboarding's, so a rewind never duplicates at Sent. Rewinding to the first
        state forgets the profile, so a new one is created; with ``delete_at_sent`` the old one
        is deleted at Sent first.

        Raises:
            UnresolvedCreateError: a worker runs the onboarding now (a create on the wire would
                be sent again under the new generation's key); nothing changed.
        """
        return self._operate(
            id_or_key, "rewind", actor, reason, batch_id, target=target,
            delete_at_sent=delete_at_sent,
        )  # fmt: skip

    def act_on(
        self,
        current: Checkpoint,
        action: str,
        *,
        actor: str,
        reason: str,
        batch_id: str | None = None,
        target: str | None = None,
        delete_at_sent: bool = False,
        adopt: str | None = None,
        create_new: bool = False,
    ) -> Checkpoint:
        """Fire an operator action (resume, retry, rewind, cancel) on ``current`` as read.

        Nothing is read again first: the commit is checked against ``current.version``, so
        the caller decides what to do when the onboarding changed meanwhile.

        Raises:
            TransitionError: the action does not apply to ``current``'s state (or, for a
                rewind, ``target`` is not an earlier state); nothing changed.
            UnresolvedCreateError: a rewind while a worker runs the onboarding (a create it
                sends would be sent again under the new generation's key); nothing changed.
            ConcurrencyError: the onboarding changed since ``current`` was read.
        """
        if not reason.strip():
            raise TransitionError(action, "-", f"{action} needs a reason for the audit log")
        kwargs: dict[str, Any] = {}
        details: dict[str, Any] | None = None
        update, records = CheckpointUpdate(), list[StepRecord]()
        if action == "cancel":
            kwargs, details = {"delete_at_sent": delete_at_sent}, {"delete_at_sent": delete_at_sent}
        elif action == "rewind":
            self._refuse_while_running(current, action)
            kwargs = {"target": target}
            details = {"target": target, "delete_at_sent": delete_at_sent}
            update, records = self._rewound(current, target or "", delete_at_sent)
        elif action == "resume" and (adopt is not None or create_new):
            records, details = decided(
                current, self.store, actor=actor, adopt=adopt, create_new=create_new
            )
        elif action not in ("resume", "retry"):
            raise TransitionError(
                action, current.state, f"{action!r} is not resume, retry, rewind or cancel"
            )
        firing = Firing(action, actor, self.clock.now(), kwargs, reason, details, batch_id=batch_id)
        return self._commit(current, firing, update, records)

    def bulk(
        self,
        action: str,
        selector: Selector,
        *,
        actor: str,
        reason: str,
        dry_run: bool = False,
        batch_id: str | None = None,
        target: str | None = None,
        delete_at_sent: bool = False,
        confirm: Callable[[BulkReport], bool] | None = None,
        preview: int = 20,
        page_size: int = 500,
        selection: str | None = None,
    ) -> BulkReport:
        """Act on every onboarding ``selector`` matches; see
        :func:`workflow.management.bulk.run_bulk`."""
        from workflow.management.bulk import run_bulk

        return run_bulk(
            self, action, selector, actor=actor, reason=reason, dry_run=dry_run,
            batch_id=batch_id, target=target, delete_at_sent=delete_at_sent, confirm=confirm,
            preview=preview, page_size=page_size, selection=selection,
        )  # fmt: skip

    def amend(
        self, id_or_key: str, spec: OnboardingSpec, *, actor: str, reason: str
    ) -> tuple[Checkpoint, list[str]]:
        """Replace the spec of an onboarding that is paused or not yet started.

        Items not yet done get new Idempotency-Keys (Sent would refuse a key reused with a
        different body); secrets are replaced when the new spec carries them (only before the
        profile is created: they travel with the create). Returns the checkpoint and the
        changed paths that earlier steps already sent and will not send again (a rewind sends
        them again). Profile fields the create already sent and a PATCH can change are sent
        again, as a PATCH before ``/complete`` (the audit row lists them under ``patched``).

        A create that was sent and whose reply is unknown keeps its body and its key, so that
        a resume resolves it (Sent replays what it did).

        Raises:
            SpecConflictError: the spec names another key, or brings secrets too late.
            UnresolvedCreateError: the amend would change the body of such a create, or a worker
                runs the onboarding now; nothing changed.
        """
        for _ in range(_OPERATOR_RETRIES):
            current = self.store.find(id_or_key)
            if spec.key != current.key:
                raise SpecConflictError(
                    f"the spec's key {spec.key!r} is not onboarding {current.key!r}'s; amend keeps "
                    "the key (start a new onboarding for a new key)",
                    key=spec.key,
                )
            secrets = spec.secret_values()
            if secrets and current.profile_id is not None:
                raise SpecConflictError(
                    f"onboarding {current.key!r} already created its profile, which is when "
                    "payment details and the WhatsApp token are sent; change them at Sent and "
                    "leave them out of the amended spec",
                    key=current.key,
                )
            self._refuse_while_running(current, "amend")
            paths = changed_paths(current.spec, spec.storable())
            records = self.store.records(current.id, current.generation)
            unresolved = unresolved_creates(records, paths, bool(secrets))
            if unresolved:
                raise UnresolvedCreateError(
                    "amend", current.state, unresolved_refusal(current, unresolved)
                )
            sent = sent_paths(paths, records)
            # Profile fields the create already sent go out again as a PATCH, the next time
            # request_completion runs: now when it is still ahead (then the facts are judged again
            # from Sent), else after a rewind to campaigns or earlier (listed as already sent).
            fields = (
                patchable_profile_fields(sent, spec.storable().get("profile") or {})
                if current.profile_id is not None
                else []
            )
            flow = FLOWS.get(current.flow_version, self.flow)
            ahead = PROFILE_UPDATE[0] in flow.steps_from(current.paused_from or current.state)
            patched = fields if ahead else []
            if patched:
                sent = [
                    p for p in sent if not patchable_profile_fields([p], {f: 1 for f in patched})
                ]
            judge_again = bool(patched)  # the PATCH changes what the facts were judged on
            renewed = [
                renewed_key(r)
                for r in records
                if not r.done
                and (r.step, r.item) != PROFILE_UPDATE
                and not (judge_again and (r.step, r.item) == COMPLETION_FACTS)
                # Its body is unchanged: under its own key Sent replays what it did.
                and not is_unresolved_create(r)
            ]
            if fields:
                renewed.append(profile_update(fields, records, current.generation))
            if judge_again:
                renewed += refreshed_facts(records)
            update = CheckpointUpdate(
                spec=spec.storable(), fingerprint=spec.fingerprint(),
                # Held until the create sends them; new ones replace them (``secret``).
                has_secrets=bool(secrets) or (current.has_secrets and current.profile_id is None),
                secrets_fingerprint=self._secrets_fingerprint(secrets),
            )  # fmt: skip
            details = {
                "changed": paths, "already_sent": sent, "patched": patched, "queued": fields,
                "secrets_replaced": bool(secrets),
            }  # fmt: skip
            firing = Firing("amend", actor, self.clock.now(), reason=reason, details=details)
            try:
                saved = self._commit(
                    current, firing, update, renewed,
                    secret=self.vault.seal(secrets) if secrets else None,
                )  # fmt: skip
            except ConcurrencyError:
                continue
            return saved, sent
        raise ConcurrencyError(f"onboarding {id_or_key} kept changing; try again")

    # --------------------------------------------------------------- plumbing
    def _refuse_while_running(self, current: Checkpoint, action: str) -> None:
        why = running(current, self.clock.now())
        if why is not None:
            raise UnresolvedCreateError(
                action, current.state, f"'onboarding {action}' refused: {why}"
            )

    def _operate(
        self,
        id_or_key: str,
        action: str,
        actor: str,
        reason: str,
        batch_id: str | None,
        **options: Any,
    ) -> Checkpoint:
        if not reason.strip():
            raise TransitionError(action, "-", f"{action} needs a reason for the audit log")
        for _ in range(_OPERATOR_RETRIES):
            current = self.store.find(id_or_key)
            try:
                return self.act_on(
                    current, action, actor=actor, reason=reason, batch_id=batch_id, **options
                )
            except ConcurrencyError:
                continue  # a worker committed meanwhile: decide again on the new state
        raise ConcurrencyError(f"onboarding {id_or_key} kept changing; try again")

    def _commit(
        self,
        current: Checkpoint,
        firing: Firing,
        update: CheckpointUpdate,
        records: Sequence[StepRecord] = (),
        *,
        secret: bytes | None = None,
    ) -> Checkpoint:
        """Fire an operator's trigger on ``current`` and commit it with its audit row."""
        flow = FLOWS.get(current.flow_version, self.flow)
        trigger = firing.trigger
        try:
            change = transition(
                current, flow.machine, firing, self.vault, update=update, secret=secret
            )
        except GuardRejectedError as exc:
            raise GuardRejectedError(
                trigger,
                current.state,
                [f"'onboarding {trigger}' refused: {r}" for r in exc.reasons],
            ) from None
        except TransitionError:
            machine = OnboardingFlow(current.state, current.paused_from, definition=flow.machine)
            raise TransitionError(
                trigger, current.state, refusal(current, machine, trigger)
            ) from None
        if current.audit_seq and not current.audit_anchor:
            raise AuditAnchorError(
                f"onboarding {current.key} ({current.id}): its audit log has no anchor (it was "
                "written before anchoring, or the anchor was removed): check it with "
                f"'onboarding audit verify --key {current.id}', then anchor it with "
                "'onboarding audit anchor'; nothing was changed"
            )
        state = change.update.state
        if trigger in ("resume", "retry", "rewind") or (
            trigger == "cancel" and state in flow.machine.active_states
        ):
            # The step starts afresh: a new retry budget, and a new wait for the result.
            fresh = CheckpointUpdate(**{**_FRESH_STEP, **change.update.values()})
            change = dataclasses.replace(change, update=fresh)
        return self.store.apply(dataclasses.replace(change, records=records))

    def _rewound(
        self, current: Checkpoint, target: str, delete_at_sent: bool
    ) -> tuple[CheckpointUpdate, list[StepRecord]]:
        flow = FLOWS.get(current.flow_version, self.flow)
        path = flow.machine.path
        if target not in path:
            raise TransitionError(
                "rewind", current.state, f"rewind --to must be one of: {', '.join(path)}"
            )
        generation = current.generation + 1
        rerun = flow.steps_from(target)
        first = flow.step_for(path[0])
        fresh_profile = target == path[0]
        carried: list[StepRecord] = []
        for record in self.store.records(current.id, current.generation):
            moved = dataclasses.replace(record, generation=generation)
            if record.step not in rerun:
                carried.append(moved)  # earlier steps' outputs stand
            elif fresh_profile and record.step != (first.name if first else ""):
                continue  # the old profile's later records say nothing about a new profile
            elif fresh_profile and record.done:
                continue  # a new profile is wanted: the old one is not adopted
            elif (record.step, record.item) == PROFILE_UPDATE:
                # Amended profile fields are sent again in the new generation, under its key.
                carried.append(
                    dataclasses.replace(
                        moved, done=False, uncertain=False, key_seq=0, first_sent_at=None
                    )
                )
            elif record.done or record.uncertain or record.may_exist:
                # It may exist at Sent, and the new key will not replay it: look before creating.
                carried.append(
                    dataclasses.replace(
                        moved, done=False, may_exist=True, uncertain=False, key_seq=0,
                        first_sent_at=None,
                    )
                )  # fmt: skip
        update = CheckpointUpdate(
            generation=generation, predicted_outcome=None, predicted_rule=None,
            wake_on_callback=False,
        )  # fmt: skip
        if fresh_profile:
            update = dataclasses.replace(update, profile_id=None)
            if delete_at_sent and first is not None:
                old = [current.profile_id] if current.profile_id else []
                old += self.store.resource_ids(current.id, first.name)
                carried.append(
                    StepRecord(
                        first.name, "delete-previous", generation,
                        output={"profile_ids": list(dict.fromkeys(old))},
                    )
                )  # fmt: skip
        return update, carried
