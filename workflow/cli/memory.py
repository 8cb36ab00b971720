"""The worker process's memory: one malloc arena shared by its step threads.

glibc gives each thread that allocates a malloc arena of its own (up to eight per core), and
an arena keeps the pages it once held. The worker's step threads allocate briefly and often
(SQLite's caches, large Python objects), so each extra arena holds its own high-water mark of
them, megabytes the threads never use at once (about 2 MiB for four arenas against one, with
16 threads). The threads hold the GIL for nearly all of that work, so one arena serves them as
fast (the work waits on Sent and the database, not on ``malloc``). The worker command applies
it before its threads start; an embedding service decides for its own process
(``MALLOC_ARENA_MAX`` in the environment does the same, and wins here).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["share_malloc_arenas"]

_M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def share_malloc_arenas(count: int = 1) -> bool:
    """Cap glibc's malloc arenas at ``count``; ``False`` where the C library is not glibc or
    ``MALLOC_ARENA_MAX`` is set (then the environment's value stands)."""
    if os.environ.get("MALLOC_ARENA_MAX") or not hasattr(os, "confstr"):
        return False
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return False
    except (ValueError, OSError):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    return bool(libc.mallopt(_M_ARENA_MAX, count))
