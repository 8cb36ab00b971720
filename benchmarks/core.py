"""Cost of the pure core: a transition through ``transitions`` and a full rules evaluation.

python benchmarks/core.py
"""

from __future__ import annotations

import itertools
import timeit
from dataclasses import fields

from workflow.core.machine import OnboardingFlow
from workflow.core.rules import CompletionFacts, prerequisites, status_logic
from workflow.flows import FLOW

FACTS = [
    CompletionFacts(*values)
    for values in itertools.product([False, True], repeat=len(fields(CompletionFacts)))
]


def _walk() -> None:
    flow = OnboardingFlow(definition=FLOW.machine)
    flow.fire("create_profile")
    flow.fire("attach_brand")
    flow.fire("attach_campaigns")
    flow.fire("pause")
    flow.fire("resume")


def _rules() -> None:
    for facts in FACTS:
        prerequisites(facts)
        status_logic(facts)


def main() -> None:
    runs = 2000
    per_walk = min(timeit.repeat(_walk, number=runs, repeat=3)) / runs
    per_rules = min(timeit.repeat(_rules, number=20, repeat=3)) / (20 * len(FACTS))
    print(
        f"core: machine build + 5 transitions={per_walk * 1e6:.0f} us, "
        f"rules (prerequisites + status logic) per evaluation={per_rules * 1e6:.2f} us"
    )


if __name__ == "__main__":
    main()
