"""What the operator reads need to know of the built-in flow versions, as plain data.

``onboarding show`` and ``--state`` checks only need each version's states, the state it starts
in and the step that creates the profile; loading the flow definition itself for that would
load every step and pydantic with them (about 200 ms per command). This catalogue is written
out from :mod:`workflow.flows` (``tests/test_flow_catalogue.py`` checks they agree); a version
registered at run time is not in it, and the readers then ask the flow definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["CATALOGUE", "FlowFacts"]


@dataclass(frozen=True, slots=True)
class FlowFacts:
    """One flow version, as the reads see it."""

    states: tuple[str, ...]
    first_state: str
    profile_step: str | None


CATALOGUE: Final = {
    1: FlowFacts(
        states=(
            "pending", "incomplete", "brand", "campaigns", "complete", "completed", "submitted",
            "needs_attention", "cancelling", "cancelled",
        ),
        first_state="pending",
        profile_step="create_profile",
    ),
}  # fmt: skip
