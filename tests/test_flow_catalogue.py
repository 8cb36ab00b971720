"""The operator reads' catalogue of the built-in flow versions says what the flows say."""

from __future__ import annotations

from workflow.core.flow_catalogue import CATALOGUE
from workflow.flows import FLOW, FLOWS


def test_the_catalogue_lists_every_built_in_version_as_its_definition_does() -> None:
    assert set(CATALOGUE) == {FLOW.version}  # the versions this release ships
    for version, facts in CATALOGUE.items():
        flow = FLOWS[version]
        assert facts.states == tuple(flow.machine.states)
        assert facts.first_state == flow.machine.path[0]
        step = flow.profile_step
        assert facts.profile_step == (step.name if step is not None else None)
