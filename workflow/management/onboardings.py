"""Starting and operating onboardings: start, resume, retry, rewind, cancel, amend, bulk.

:class:`Onboardings` needs only the store and the vault (to seal secrets): it never calls Sent.
Every change goes through the machine (an invalid action raises and changes nothing) and is one
version-checked commit with its chained audit row, naming the actor and the reason. What Sent
must see (a deletion, a re-sent step) is done by the worker, from the records written here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from workflow.core.clock import Clock, SystemClock
from workflow.core.errors import (
    AuditAnchorError,
    ConcurrencyError,
    GuardRejectedError,
    TransitionError,
    UnresolvedCreateError,
)
from workflow.core.machine import OnboardingFlow
from workflow.core.rules import DEFAULT_REVISION, check_revision
from workflow.core.spec import OnboardingSpec
from workflow.core.transition import Firing, transition
from workflow.flows import FLOW, FLOWS, FlowDefinition
from workflow.following.waiting import Following
from workflow.management.adoption import decided
from workflow.management.corrections import amendment, refuse_amend, rewound
from workflow.management.decisions import refusal, running
from workflow.management.starting import (
    check_same,
    new_onboarding,
    refuse_repeated_keys,
    secrets_fingerprint,
)
from workflow.ports import Checkpoint, CheckpointUpdate, ManagementStore, StepRecord, Vault

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
        refuse_repeated_keys(specs)
        now = self.clock.now()
        unique = {spec.key: spec for spec in specs}
        new = [
            new_onboarding(spec, actor, now, self.flow, self.sent_api, self.vault)
            for spec in unique.values()
        ]
        # Inside the store's transaction: one conflicting key and nothing of the batch is stored.
        return self.store.insert_many(
            new,
            check=lambda stored, item: check_same(
                stored, unique[item.checkpoint.key], self.vault, self.store.read_secret
            ),
        )

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
            update, records = rewound(
                current, FLOWS.get(current.flow_version, self.flow),
                self.store.records(current.id, current.generation),
                lambda step: self.store.resource_ids(current.id, step),
                target or "", delete_at_sent,
            )  # fmt: skip
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
        secrets = spec.secret_values()
        for _ in range(_OPERATOR_RETRIES):
            current = self.store.find(id_or_key)
            refuse_amend(current, spec)
            self._refuse_while_running(current, "amend")
            records = self.store.records(current.id, current.generation)
            flow = FLOWS.get(current.flow_version, self.flow)
            fingerprint = secrets_fingerprint(self.vault, secrets)
            amended = amendment(current, spec, records, flow, fingerprint)
            now = self.clock.now()
            firing = Firing("amend", actor, now, reason=reason, details=amended.details)
            try:
                saved = self._commit(
                    current, firing, amended.update, amended.records,
                    secret=self.vault.seal(secrets) if secrets else None,
                )  # fmt: skip
            except ConcurrencyError:
                continue
            return saved, amended.already_sent
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
