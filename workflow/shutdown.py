"""Stopping workers cleanly: at interpreter exit, and on SIGINT/SIGTERM.

**At exit.** A service that started a :class:`~workflow.runner.Worker` and then ended (its
main thread returned or raised) must neither hang nor print tracebacks. Python ends a process
in this order: ``threading._shutdown`` runs the hooks registered with
``threading._register_atexit`` (newest first), then joins every non-daemon thread, and only
then runs :mod:`atexit`'s functions. ``concurrent.futures`` registers such a hook to join its
pool threads after refusing new work; a worker still ticking then fails every claim with
"cannot schedule new futures after interpreter shutdown", and a thread running
``Worker.run`` is joined for ever. :mod:`atexit` runs too late for either, so this module
registers its own hook with ``threading._register_atexit`` (private, present since Python 3.9;
:mod:`concurrent.futures` relies on it the same way). It is registered after
:mod:`concurrent.futures.thread` is imported, so it runs before that module's hook: every
started worker stops claiming, drains the steps in flight (at most :data:`EXIT_DRAIN_SECONDS`)
and marks itself stopped, and only then are the pools and threads joined. Were the private
function ever gone, the hook falls back to :mod:`atexit` and ``Worker.stop`` stays the way to
end a worker.

**Signals.** :func:`install_signal_handlers` makes the first SIGINT or SIGTERM call a stop
function (the worker drains the steps in flight) and a second one end the process at once with
``os._exit`` (status 130 for SIGINT, 143 for SIGTERM): no step is committed after it, and the
leases it held expire (``lease_seconds``) before another worker takes those onboardings over.
"""

from __future__ import annotations

import atexit
import concurrent.futures.thread  # noqa: F401  (import first: its exit hook must run after ours)
import logging
import os
import signal
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Final, Protocol

__all__ = [
    "EXIT_DRAIN_SECONDS",
    "exit_at_once_on_signals",
    "exiting",
    "install_signal_handlers",
    "restore_signal_handlers",
    "track",
    "untrack",
]

log = logging.getLogger("workflow.runner")

#: How long a worker still running at interpreter exit may take to drain its steps in flight.
EXIT_DRAIN_SECONDS: Final = 30.0
_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


class _Stoppable(Protocol):
    def stop(self, timeout: float | None = ...) -> bool: ...


_running: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()
_exiting = False


def exiting() -> bool:
    """Whether the interpreter is ending (a worker must not start now)."""
    return _exiting


def track(worker: _Stoppable) -> bool:
    """Stop ``worker`` at interpreter exit unless stopped before; ``False`` when already ending."""
    with _lock:
        if _exiting:
            return False
        _running.add(worker)
        return True


def untrack(worker: _Stoppable) -> None:
    """``worker`` stopped by itself: nothing to do for it at exit."""
    with _lock:
        _running.discard(worker)


def _stop_all_at_exit() -> None:
    global _exiting
    with _lock:
        _exiting = True
        workers = list(_running)
    for worker in workers:
        log.info("interpreter exiting: stopping worker, finishing the steps in flight")
        worker.stop(timeout=EXIT_DRAIN_SECONDS)


def _register() -> None:
    global _exiting
    register = getattr(threading, "_register_atexit", None)
    if register is None:  # pragma: no cover - a Python without it: atexit is the next best
        atexit.register(_stop_all_at_exit)
        return
    try:
        register(_stop_all_at_exit)
    except RuntimeError:  # imported while the interpreter is already ending
        _exiting = True


_register()


def _is_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def install_signal_handlers(stop: Callable[[], None]) -> dict[int, Any]:
    """First SIGINT/SIGTERM: ``stop()``; a second: ``os._exit(128 + signal)``.

    Only the main thread may set handlers: elsewhere nothing is installed (``{}``). Returns
    the handlers replaced, for :func:`restore_signal_handlers`.
    """
    if not _is_main_thread():
        return {}
    received: list[int] = []

    def handle(signum: int, _frame: FrameType | None) -> None:
        if received:
            os._exit(128 + signum)
        received.append(signum)
        log.info(
            "signal %s: finishing in-flight steps, then stopping (a second signal: at once)",
            signum,
        )
        stop()

    return {sig: signal.signal(sig, handle) for sig in _SIGNALS}


def restore_signal_handlers(previous: dict[int, Any]) -> None:
    """Put back the handlers :func:`install_signal_handlers` replaced."""
    for sig, handler in previous.items():
        signal.signal(sig, handler)


@contextmanager
def exit_at_once_on_signals() -> Iterator[None]:
    """While the block runs in the main thread, SIGINT/SIGTERM end the process at once.

    A drain after a first Ctrl-C (a ``KeyboardInterrupt`` leaving a ``with Worker(...)`` block,
    or a signal handled by :func:`install_signal_handlers`) is cut short by a second one.
    """
    if not _is_main_thread():
        yield
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        os._exit(128 + signum)

    previous: dict[int, Any] = {sig: signal.signal(sig, handle) for sig in _SIGNALS}
    try:
        yield
    finally:
        restore_signal_handlers(previous)
