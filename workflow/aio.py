"""``AsyncOnboardings``: starting, waiting for and following onboardings from asyncio services.

The store is synchronous (SQLAlchemy Core over a connection pool), so every store call runs in
a worker thread (:func:`asyncio.to_thread`) and the event loop never blocks on the database.
Waiting sleeps on the event loop between looks (20 ms growing to 1 s).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from workflow.clock import Clock
from workflow.events import Event, wait_interval
from workflow.flow import FLOW, FlowDefinition
from workflow.following import is_settled
from workflow.management import Onboardings
from workflow.ports import Checkpoint, ManagementStore, Vault
from workflow.spec import OnboardingSpec

__all__ = ["AsyncOnboardings"]


class AsyncOnboardings:
    """The asyncio twin of :class:`~workflow.management.Onboardings` for embedding services.

    Args:
        store: the store (``persistence.SqlStore``).
        vault: seals secrets at start.
    """

    def __init__(
        self,
        store: ManagementStore,
        vault: Vault,
        *,
        clock: Clock | None = None,
        flow: FlowDefinition = FLOW,
    ) -> None:
        self.sync = Onboardings(store, vault, clock=clock, flow=flow)

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
        return await asyncio.to_thread(self.sync.store.find, id_or_key)

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

    def events(self, name: str, **options: Any) -> AsyncIterator[Event]:
        """``async for event in onboardings.events(name)`` (see ``Onboardings.events``)."""
        return self.sync.events(name, **options)
