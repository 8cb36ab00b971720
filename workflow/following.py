"""Following onboardings from an embedding service: find one, wait for it, subscribe to all.

:class:`Following` is mixed into :class:`~workflow.management.Onboardings`, so the object that
starts onboardings also finds them (``find``), waits for them (``wait``) and follows their
events (``subscribe`` for a handler in a thread, ``events`` for a ``for`` loop). Waiting looks at
the row with a growing interval (20 ms to 1 s); following reads the transition outbox
(:mod:`workflow.events`). ``close`` (or leaving a ``with`` block) stops the subscribers started
here and ends the ``events`` loops at their next look.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self, cast

from workflow.clock import Clock
from workflow.events import Event, EventStore, Subscriber, follow_events, wait_interval
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
    """Finding, waiting for and following onboardings (mixed into ``Onboardings``)."""

    store: ManagementStore
    clock: Clock

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._closed = threading.Event()

    def find(self, id_or_key: str) -> Checkpoint:
        """An onboarding by id, else by key.

        Raises:
            OnboardingNotFoundError: no onboarding has that id or key.
        """
        return self.store.find(id_or_key)

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

    def subscribe(
        self, name: str, handler: Callable[[Event], object], **options: Any
    ) -> Subscriber:
        """Call ``handler`` with every event, in order, from a started background thread.

        What ``handler`` returns is ignored. ``options`` go to
        :class:`~workflow.events.Subscriber`; the subscriber stops with :meth:`close` (or call
        ``stop()`` on the result, or use it as a context manager).

        Raises:
            ValueError: ``name`` is not a valid subscriber name.
            TypeError: the store keeps no outbox.
        """
        options.setdefault("clock", self.clock)
        subscriber = Subscriber(event_store(self.store), name, handler, **options)
        self._subscribers.append(subscriber)
        return subscriber.start()

    def events(self, name: str, **options: Any) -> Iterator[Event]:
        """``for event in onboardings.events(name)``: every event, in order, until :meth:`close`.

        The subscriber's position moves past each event once the loop body has finished with
        it (see :func:`~workflow.events.follow_events`); ``options`` are its ``batch_size`` and
        ``poll_interval``.

        Raises:
            ValueError: ``name`` is not a valid subscriber name.
            TypeError: the store keeps no outbox.
        """
        options.setdefault("clock", self.clock)
        return follow_events(event_store(self.store), name, stop=self._closed, **options)

    def close(self) -> None:
        """Stop the subscribers started here; ``events`` loops end at their next look."""
        self._closed.set()
        for subscriber in self._subscribers:
            subscriber.stop()
        self._subscribers.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
