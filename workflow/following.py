"""Following onboardings from an embedding service: wait for one, subscribe to all.

:class:`Following` is mixed into :class:`~workflow.management.Onboardings`, so the object that
starts onboardings also waits for them (``wait``) and follows their events (``subscribe`` for a
handler in a thread, ``events`` for ``async for``). Waiting looks at the row with a growing
interval (20 ms to 1 s); following reads the transition outbox (:mod:`workflow.events`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, cast

from workflow.clock import Clock
from workflow.events import Event, EventStore, Subscriber, iterate_events, wait_interval
from workflow.flow import FLOWS, FlowDefinition
from workflow.machine import PAUSED
from workflow.ports import Checkpoint, ManagementStore

__all__ = ["Following", "is_settled"]


def is_settled(checkpoint: Checkpoint, flows: Mapping[int, FlowDefinition] = FLOWS) -> bool:
    """Whether nothing more happens to an onboarding without a person: terminal, or paused."""
    flow = flows.get(checkpoint.flow_version)
    terminal = flow.machine.terminal_states if flow is not None else frozenset()
    return checkpoint.state in terminal or checkpoint.state == PAUSED


def event_store(store: Any) -> EventStore:
    """``store`` as an :class:`EventStore`.

    Raises:
        TypeError: the store keeps no outbox.
    """
    if not (hasattr(store, "read_events") and hasattr(store, "ack_events")):
        raise TypeError(
            f"{type(store).__name__} keeps no transition outbox; use persistence.SqlStore"
        )
    return cast(EventStore, store)


class Following:
    """Waiting for onboardings and following their events (mixed into ``Onboardings``)."""

    store: ManagementStore
    clock: Clock

    def wait(self, id_or_key: str, timeout: float) -> Checkpoint:
        """Block until the onboarding is terminal or paused; return its checkpoint then.

        Raises:
            TimeoutError: it is still moving after ``timeout`` seconds (it goes on moving).
            OnboardingNotFoundError: no onboarding has that id or key.
        """
        started = time.monotonic()
        while True:
            checkpoint = self.store.find(id_or_key)
            if is_settled(checkpoint):
                return checkpoint
            left = started + timeout - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"onboarding {checkpoint.key!r} ({checkpoint.id}) is still {checkpoint.state} "
                    f"after {timeout:g}s; it goes on running: wait again, or see "
                    f"'onboarding show {checkpoint.key}'"
                )
            time.sleep(min(left, wait_interval(started)))

    def subscribe(self, name: str, handler: Callable[[Event], None], **options: Any) -> Subscriber:
        """Call ``handler`` with every event, in order, from a started background thread.

        ``options`` go to :class:`~workflow.events.Subscriber`; call ``stop()`` on the result
        (or use it as a context manager) to end it.

        Raises:
            ValueError: ``name`` is not a valid subscriber name.
            TypeError: the store keeps no outbox.
        """
        options.setdefault("clock", self.clock)
        return Subscriber(event_store(self.store), name, handler, **options).start()

    def events(self, name: str, **options: Any) -> AsyncIterator[Event]:
        """``async for event in onboardings.events(name)``: every event, in order, for ever.

        See :func:`~workflow.events.iterate_events` for when the position moves.

        Raises:
            ValueError: ``name`` is not a valid subscriber name.
            TypeError: the store keeps no outbox.
        """
        options.setdefault("clock", self.clock)
        return iterate_events(event_store(self.store), name, **options)
