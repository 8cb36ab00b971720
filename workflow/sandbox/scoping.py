"""``x-profile-id``: which profile each request was scoped to, and the rule the sandbox applies.

The header scopes a call to one child profile of the organization. A call whose path names
another profile is out of that scope, so the sandbox answers as for any profile the caller
cannot see: 404 ``RESOURCE_014`` "Profile not found" (the sources are silent; a 403 would tell
the caller the other profile exists). Every authenticated request is recorded, refused ones
too, by operation, the profile it acted on (the created one for a create) and the header it
carried, so a test can check that a client names the profile wherever it acts on one.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

__all__ = ["ScopeLog", "out_of_scope"]


def out_of_scope(header: str | None, path_profile_id: str | None) -> bool:
    """Whether ``x-profile-id`` names a different profile than the path."""
    return header is not None and path_profile_id is not None and header != path_profile_id


class ScopeLog:
    """Counts of (operation, profile acted on, x-profile-id sent). Thread-safe, bounded by the
    number of distinct combinations rather than by requests."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str | None, str | None]] = Counter()
        self._lock = threading.Lock()

    def note(self, operation: str, profile_id: str | None, header: str | None) -> None:
        """Record one request."""
        with self._lock:
            self._counts[(operation, profile_id, header)] += 1

    def entries(self) -> list[dict[str, Any]]:
        """Every combination seen, in first-seen order, with its count."""
        with self._lock:
            counts = list(self._counts.items())
        return [
            {"operation": op, "profile_id": pid, "x_profile_id": header, "count": n}
            for (op, pid, header), n in counts
        ]

    @staticmethod
    def by_profile(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """``entries`` grouped by the profile acted on (without it), for each profile's view."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            if entry["profile_id"] is not None:
                grouped.setdefault(entry["profile_id"], []).append(
                    {k: v for k, v in entry.items() if k != "profile_id"}
                )
        return grouped
