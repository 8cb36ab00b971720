"""Flow version 2, as :mod:`workflow.flows` would declare it: version 1's path with
``verify_profile`` between ``campaigns`` and ``/complete`` (``request_completion`` runs in the
new state ``verified``). Version 1 stays registered for the onboardings that started under it.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from tests import example_verify_profile as verify_profile
from workflow.flows import FLOW, FlowDefinition, FlowStep

__all__ = ["FLOW_V2"]

_COMPLETION = next(entry for entry in FLOW.path if entry.state == "campaigns")

FLOW_V2: Final = FlowDefinition(
    version=2,
    path=(
        *(entry for entry in FLOW.path if entry.state not in ("campaigns", "complete")),
        FlowStep("campaigns", verify_profile.STEP, "verify_profile", (("verified", None),)),
        dataclasses.replace(_COMPLETION, state="verified"),
        *(entry for entry in FLOW.path if entry.state == "complete"),
    ),
    side=FLOW.side,
    refusals=FLOW.refusals,
)
