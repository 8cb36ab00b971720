"""Transition events for embedding services: what they are, and how to follow them.

Every transition (the engine's and operators' alike, and each start) is written to an outbox in
the transaction that makes it (``persistence.outbox``). A named subscriber reads it in order
and keeps its own position, which moves only after its handler succeeded, so every event is
handled at least once, and one onboarding's events arrive in ``seq`` order. A handler may see an
event again after a crash or a failure later in its batch: make it idempotent by
:attr:`Event.event_id`.

Three ways to follow, all over the :class:`EventStore` port:

* :class:`Subscriber`: a thread polling the outbox and calling a handler, backing off while the
  handler (or the database) fails;
* :func:`iterate_events`: ``async for event in onboardings.events("name")`` (and
  :func:`follow_events`, its blocking twin); the position moves past each event once the loop
  body has finished with it;
* ``Onboardings.wait(key, timeout)``: block until one onboarding is terminal or paused.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Final

from workflow.core.backoff import Backoff
from workflow.core.clock import Clock, SystemClock
from workflow.core.errors import StoreError
from workflow.ports.events import (
    Event,
    EventPosition,
    EventStore,
    SubscriberPosition,
)

__all__ = [
    "Event",
    "EventPosition",
    "EventStore",
    "Subscriber",
    "SubscriberPosition",
    "check_subscriber_name",
    "follow_events",
    "iterate_events",
]

log = logging.getLogger("workflow.events")

#: The width of ``outbox_cursors.subscriber``.
MAX_SUBSCRIBER_NAME: Final = 128
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*")


def check_subscriber_name(name: str) -> str:
    """Return ``name`` if it can name a subscriber.

    Raises:
        ValueError: it is empty, longer than 128 characters, or has characters other than
            letters, digits and ``. _ : / @ + -`` (it starts with a letter or digit).
    """
    if not _NAME.fullmatch(name) or len(name) > MAX_SUBSCRIBER_NAME:
        raise ValueError(
            f"subscriber name {name[:40]!r} is not valid: 1 to {MAX_SUBSCRIBER_NAME} letters, "
            "digits or '._:/@+-', starting with a letter or digit"
        )
    return name


class Subscriber:
    """Calls ``handler`` with every event, in order, from a background thread.

    The subscriber's position moves past an event only after ``handler`` returned; when it
    raises, the same event is offered again after a backoff (``backoff_initial`` doubling up
    to ``backoff_cap`` seconds), so nothing is skipped and one onboarding's events never
    overtake each other.

    Args:
        store: where the events are.
        name: the subscriber's name; each name has its own position.
        handler: called once per event (again after a failure); make it idempotent.
        batch_size: events read per query.
        poll_interval: seconds between reads while there is nothing new.

    Raises:
        ValueError: ``name`` is not a valid subscriber name, or a number is out of range.
    """

    def __init__(
        self,
        store: EventStore,
        name: str,
        handler: Callable[[Event], object],
        *,
        batch_size: int = 100,
        poll_interval: float = 0.5,
        backoff_initial: float = 0.5,
        backoff_cap: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if poll_interval <= 0 or not 0 < backoff_initial <= backoff_cap:
            raise ValueError(
                "poll_interval and backoff_initial must be above 0, backoff_cap at least "
                "backoff_initial"
            )
        self.store = store
        self.name = check_subscriber_name(name)
        self.handler = handler
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.backoff_initial = backoff_initial
        self.backoff_cap = backoff_cap
        self.clock: Clock = clock or SystemClock()
        self.delivered = 0
        self._backoff = Backoff(backoff_initial, backoff_cap)
        self._position: EventPosition | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> int:
        """Read one batch and hand its events to the handler; returns how many were handled.

        Raises:
            Exception: whatever the handler raised; the position stays at the last event it
                handled, so the failed event comes first next time.
            StoreError: the database failed.
        """
        events = self.store.read_events(
            self.name, self.batch_size, self.clock.now(), self._position
        )
        handled = 0
        try:
            for event in events:
                if self._stopping.is_set():
                    break
                self.handler(event)
                handled += 1
        finally:
            if handled:
                last = events[handled - 1].position
                self.store.ack_events(self.name, last, handled, self.clock.now())
                self._position = last
                self.delivered += handled
        return handled

    def run(self) -> None:
        """Poll until :meth:`stop`, backing off while the handler or the database fails."""
        while not self._stopping.is_set():
            try:
                handled = self.poll()
            except StoreError as exc:
                self._fail(f"database unavailable ({exc})")
                continue
            except Exception as exc:  # the handler's failure: offer the event again later
                self._fail(f"handler failed ({type(exc).__name__}: {exc})")
                continue
            self._backoff.succeeded()
            if handled < self.batch_size:
                self._stopping.wait(self.poll_interval)

    @property
    def failures(self) -> int:
        """Failures in a row (0 once an event was handled, or nothing was there to handle)."""
        return self._backoff.failures

    def _fail(self, what: str) -> None:
        delay = self._backoff.failed()
        log.warning("subscriber %s: %s; retrying in %.1fs", self.name, what, delay)
        self._stopping.wait(delay)

    def start(self) -> Subscriber:
        """Run in a daemon thread (once: starting again changes nothing); returns ``self``."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self.run, name=f"subscriber:{self.name}")
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop after the event being handled (a backoff wait ends at once)."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopping.is_set()

    def __enter__(self) -> Subscriber:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def iterate_events(
    store: EventStore,
    name: str,
    *,
    batch_size: int = 100,
    poll_interval: float = 0.5,
    clock: Clock | None = None,
) -> AsyncIterator[Event]:
    """Every event for subscriber ``name``, in order, waiting for new ones (never ends).

    The position moves past each event as soon as the loop body has finished with it (the loop
    asks for the next one), one small update per event, so a restart goes on after the last
    event handled. The event the loop leaves on (``break``, or an exception in its body) was
    not finished with: it comes first next time (at least once). Store calls run in a thread
    (:func:`asyncio.to_thread`), never on the event loop.

    Raises:
        ValueError: ``name`` is not a valid subscriber name.
        StoreError: the database failed.
    """
    check_subscriber_name(name)
    now = (clock or SystemClock()).now
    position: EventPosition | None = None
    while True:
        events = await asyncio.to_thread(store.read_events, name, batch_size, now(), position)
        if not events:
            await asyncio.sleep(poll_interval)
            continue
        for event in events:
            yield event
            # Resumed: the loop body finished with this event.
            position = event.position
            await asyncio.to_thread(store.ack_events, name, position, 1, now())


def follow_events(
    store: EventStore,
    name: str,
    *,
    batch_size: int = 100,
    poll_interval: float = 0.5,
    clock: Clock | None = None,
    stop: threading.Event | None = None,
) -> Iterator[Event]:
    """``for event in ...``: :func:`iterate_events` for threads, blocking between looks.

    The position moves past each event once the loop body has finished with it; the event
    the loop leaves on comes first next time. Ends when ``stop`` is set (checked between
    looks), else never.

    Raises:
        ValueError: ``name`` is not a valid subscriber name.
        StoreError: the database failed.
    """
    check_subscriber_name(name)
    now = (clock or SystemClock()).now
    stopping = stop or threading.Event()
    position: EventPosition | None = None
    while not stopping.is_set():
        events = store.read_events(name, batch_size, now(), position)
        if not events:
            stopping.wait(poll_interval)
            continue
        for event in events:
            yield event
            position = event.position
            store.ack_events(name, position, 1, now())


def wait_interval(started: float, now: float | None = None) -> float:
    """How long to sleep between looks at an onboarding: 20 ms growing to 1 s."""
    elapsed = (time.monotonic() if now is None else now) - started
    return min(1.0, 0.02 + elapsed / 10)
