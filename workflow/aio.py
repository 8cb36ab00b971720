"""``AsyncOnboardings``: the methods of ``Onboardings``, awaitable, for asyncio services.

The store is synchronous (SQLAlchemy Core over a connection pool), so every store call runs in
a worker thread (:func:`asyncio.to_thread`) and the event loop never blocks on the database.
Waiting sleeps on the event loop between looks (20 ms growing to 1 s). ``events`` is an
``async for`` over the outbox; ``subscribe`` starts a handler thread, as in ``Onboardings``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from workflow.clock import Clock
from workflow.events import Event, Subscriber, iterate_events, wait_interval
from workflow.flow import FlowDefinition
from workflow.following import event_store, is_settled
from workflow.management import Onboardings
from workflow.ports import Checkpoint, ManagementStore, Vault
from workflow.rules import DEFAULT_REVISION
from workflow.spec import OnboardingSpec

if TYPE_CHECKING:
    from workflow.bulk import BulkReport
    from workflow.selection import Selector

__all__ = ["AsyncOnboardings"]


class AsyncOnboardings:
    """:class:`~workflow.management.Onboardings` for asyncio: the same methods, awaitable.

    Each method runs its synchronous twin in a thread and raises what it raises. ``async
    with`` (or ``await close()``) stops the subscribers started here; the store stays open.

    Args:
        store: the store (``persistence.SqlStore``).
        vault: seals secrets at start and amend; anchors the audit rows written.
        clock: the time (default: the system clock).
        flow: the flow new onboardings start under (default: the current one).
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
        self.sync = Onboardings(store, vault, clock=clock, flow=flow, sent_api=sent_api)

    async def start(self, spec: OnboardingSpec, *, actor: str = "api") -> Checkpoint:
        """Store a validated spec as a new onboarding (idempotent on its key).

        Raises:
            SpecConflictError: the key was used before with a different spec or other secrets.
        """
        return await asyncio.to_thread(self.sync.start, spec, actor=actor)

    async def start_many(
        self, specs: Sequence[OnboardingSpec], *, actor: str = "api"
    ) -> list[tuple[Checkpoint, bool]]:
        """Store every spec in one transaction, or none (see ``Onboardings.start_many``)."""
        return await asyncio.to_thread(self.sync.start_many, specs, actor=actor)

    async def find(self, id_or_key: str) -> Checkpoint:
        """An onboarding by id, else by key.

        Raises:
            OnboardingNotFoundError: no onboarding has that id or key.
        """
        return await asyncio.to_thread(self.sync.find, id_or_key)

    async def wait(self, id_or_key: str, timeout: float) -> Checkpoint:
        """Return the checkpoint once the onboarding is terminal or paused.

        Raises:
            TimeoutError: it is still moving after ``timeout`` seconds (it goes on moving).
            OnboardingNotFoundError: no onboarding has that id or key.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            checkpoint = await self.find(id_or_key)
            if is_settled(checkpoint):
                return checkpoint
            left = started + timeout - loop.time()
            if left <= 0:
                raise TimeoutError(
                    f"onboarding {checkpoint.key!r} ({checkpoint.id}) is still {checkpoint.state} "
                    f"after {timeout:g}s; it goes on running: wait again, or see "
                    f"'onboarding show {checkpoint.key}'"
                )
            await asyncio.sleep(min(left, wait_interval(started, loop.time())))

    async def resume(
        self,
        id_or_key: str,
        *,
        actor: str,
        reason: str,
        batch_id: str | None = None,
        adopt: str | None = None,
        create_new: bool = False,
    ) -> Checkpoint:
        """Resume a paused onboarding where it paused (see ``Onboardings.resume``)."""
        return await asyncio.to_thread(
            self.sync.resume, id_or_key, actor=actor, reason=reason, batch_id=batch_id,
            adopt=adopt, create_new=create_new,
        )  # fmt: skip

    async def retry(
        self, id_or_key: str, *, actor: str, reason: str, batch_id: str | None = None
    ) -> Checkpoint:
        """Run the current step again now (see ``Onboardings.retry``)."""
        return await asyncio.to_thread(
            self.sync.retry, id_or_key, actor=actor, reason=reason, batch_id=batch_id
        )

    async def cancel(
        self,
        id_or_key: str,
        *,
        actor: str,
        reason: str,
        delete_at_sent: bool = False,
        batch_id: str | None = None,
    ) -> Checkpoint:
        """End an onboarding for good (see ``Onboardings.cancel``)."""
        return await asyncio.to_thread(
            self.sync.cancel, id_or_key, actor=actor, reason=reason,
            delete_at_sent=delete_at_sent, batch_id=batch_id,
        )  # fmt: skip

    async def rewind(
        self,
        id_or_key: str,
        target: str,
        *,
        actor: str,
        reason: str,
        delete_at_sent: bool = False,
        batch_id: str | None = None,
    ) -> Checkpoint:
        """Go back to an earlier state (see ``Onboardings.rewind``)."""
        return await asyncio.to_thread(
            self.sync.rewind, id_or_key, target, actor=actor, reason=reason,
            delete_at_sent=delete_at_sent, batch_id=batch_id,
        )  # fmt: skip

    async def amend(
        self, id_or_key: str, spec: OnboardingSpec, *, actor: str, reason: str
    ) -> tuple[Checkpoint, list[str]]:
        """Replace the spec of a paused or not yet started onboarding (``Onboardings.amend``)."""
        return await asyncio.to_thread(self.sync.amend, id_or_key, spec, actor=actor, reason=reason)

    async def act_on(
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
        """Fire an operator action on ``current`` as read (see ``Onboardings.act_on``)."""
        return await asyncio.to_thread(
            self.sync.act_on, current, action, actor=actor, reason=reason, batch_id=batch_id,
            target=target, delete_at_sent=delete_at_sent, adopt=adopt, create_new=create_new,
        )  # fmt: skip

    async def bulk(
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
        """Act on every onboarding ``selector`` matches (see ``Onboardings.bulk``); ``confirm``
        runs in the worker thread."""
        return await asyncio.to_thread(
            self.sync.bulk, action, selector, actor=actor, reason=reason, dry_run=dry_run,
            batch_id=batch_id, target=target, delete_at_sent=delete_at_sent, confirm=confirm,
            preview=preview, page_size=page_size, selection=selection,
        )  # fmt: skip

    def subscribe(
        self, name: str, handler: Callable[[Event], object], **options: Any
    ) -> Subscriber:
        """Call ``handler`` with every event from a background thread (``Onboardings.subscribe``).

        Not a coroutine: it starts the thread and returns it at once.
        """
        return self.sync.subscribe(name, handler, **options)

    def events(self, name: str, **options: Any) -> AsyncIterator[Event]:
        """``async for event in onboardings.events(name)``: every event, in order, for ever.

        The subscriber's position moves past each event once the loop body has finished with
        it (see :func:`~workflow.events.iterate_events`).

        Raises:
            ValueError: ``name`` is not a valid subscriber name.
            TypeError: the store keeps no outbox.
        """
        options.setdefault("clock", self.sync.clock)
        return iterate_events(event_store(self.sync.store), name, **options)

    async def close(self) -> None:
        """Stop the subscribers started here (their threads are joined off the event loop)."""
        await asyncio.to_thread(self.sync.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
