"""Diagrams of the onboarding machine, generated from a flow's transition table.

The picture is laid out for reading at a glance, not by a general graph layout:

* the path on one straight line, left to right, each arrow labelled with its step's trigger
  (and guard), ending in the outcomes (``submitted | completed``);
* the rows every flow has are drawn once, from a group instead of from each state: ``pause``
  from "in progress" to ``needs_attention`` and back (``resume``/``retry``), ``cancel`` from
  "not finished" to ``cancelling``/``cancelled``;
* the operator actions (resume, retry, rewind, cancel, amend) as a table of from/to.

:func:`shown_rows` says which table rows the picture draws and which the action table lists; a
test checks that together they are the whole table. The SVG is written without Graphviz (the
layout is fixed), so ``diagrams/onboarding.svg`` is checked for staleness like the Markdown;
:func:`render_svg` also highlights one onboarding's current state and the path it took (the
console uses it). Every state is a ``<g>`` with ``id="state-<name>"`` and ``data-state``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from workflow.core.machine import OPERATOR_TRIGGERS, PAUSED, MachineDefinition, TransitionSpec
from workflow.flows import diagram_svg
from workflow.flows.diagram_svg import TITLE, label

__all__ = [
    "ActionRow",
    "action_rows",
    "actions_markdown",
    "check",
    "render_markdown",
    "render_mermaid",
    "render_svg",
    "shown_rows",
    "write",
]

MARKDOWN_NAME: Final = "onboarding.md"
SVG_NAME: Final = "onboarding.svg"
#: Operator actions in the order people reach for them.
ACTIONS: Final = ("resume", "retry", "rewind", "cancel", "amend")
IN_PROGRESS: Final = "in progress"
NOT_FINISHED: Final = "not finished"


def _definition(definition: MachineDefinition | None) -> MachineDefinition:
    if definition is not None:
        return definition
    from workflow.flows import FLOW

    return FLOW.machine


def _drawn_rows(machine: MachineDefinition) -> list[TransitionSpec]:
    """The rows the picture draws one by one: every step's trigger."""
    return [*machine.forward, *machine.side]


# ------------------------------------------------------------------ actions
@dataclass(frozen=True)
class ActionRow:
    """One line of the operator actions table."""

    action: str
    sources: tuple[str, ...]
    dest: str
    rows: tuple[TransitionSpec, ...]


def _describe(states: Iterable[str], machine: MachineDefinition) -> str:
    chosen = set(states)
    groups = {
        frozenset(machine.active_states): f"every state {IN_PROGRESS}",
        frozenset((*machine.path, PAUSED)): f"the path, {PAUSED}",
        frozenset((*machine.active_states, PAUSED)): f"every state {NOT_FINISHED}",
    }
    if frozenset(chosen) in groups:
        return groups[frozenset(chosen)]
    return ", ".join(s for s in machine.states if s in chosen)


def action_rows(definition: MachineDefinition | None = None) -> list[ActionRow]:
    """The operator actions of the table, summarised: who can take each, and where it leads."""
    machine = _definition(definition)
    rows: list[ActionRow] = []
    for action in (*ACTIONS, *sorted(OPERATOR_TRIGGERS - set(ACTIONS))):
        mine = [r for r in machine.transitions if r.trigger == action]
        groups: dict[str, list[TransitionSpec]] = {}
        for row in mine:
            names = [g.__name__ for g in row.conditions]
            if row.source == row.dest:
                dest = "itself"
            elif any(n.startswith("paused_from_") for n in names):
                dest = "the state it paused from"
            elif any(n.startswith("target_is_") for n in names):
                dest = "an earlier state of the path (--to S)"
            elif row.unless:
                dest = row.dest
            elif names:
                dest = f"{row.dest} (with {', '.join(names)})"
            else:
                dest = row.dest
            groups.setdefault(dest, []).append(row)
        for dest, members in groups.items():
            sources = tuple(dict.fromkeys(r.source for r in members))
            rows.append(ActionRow(action, sources, dest, tuple(members)))
    return rows


def shown_rows(definition: MachineDefinition | None = None) -> dict[str, set[TransitionSpec]]:
    """Which rows of the table appear where: ``drawn`` one by one, ``grouped`` from a group,
    ``tabled`` in the actions table."""
    machine = _definition(definition)
    tabled = {row for action in action_rows(machine) for row in action.rows}
    grouped = {
        r for r in machine.transitions if r.trigger == "pause" and r.source in machine.active_states
    }
    return {"drawn": set(_drawn_rows(machine)), "grouped": grouped, "tabled": tabled}


def actions_markdown(machine: MachineDefinition) -> str:
    """The operator actions as a Markdown table (``diagrams/onboarding.md`` and the README)."""
    lines = ["| action | from | to |", "|---|---|---|"]
    for row in action_rows(machine):
        lines.append(f"| `{row.action}` | {_describe(row.sources, machine)} | {row.dest} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ mermaid
def render_mermaid(definition: MachineDefinition | None = None) -> str:
    """A Mermaid ``stateDiagram-v2``: the path in a composite state, the shared rows once."""
    machine = _definition(definition)
    out = ["---", f"title: {TITLE}", "---", "stateDiagram-v2", "  direction LR"]
    out.append(f'  state "{NOT_FINISHED}" as not_finished {{')
    out.append(f'    state "{IN_PROGRESS}" as in_progress {{')
    out.append("      direction LR")
    out.append(f"      [*] --> {machine.path[0]}")
    for row in machine.forward:
        if row.dest in machine.path:
            out.append(f"      {row.source} --> {row.dest}: {label(row)}")
    out.append("    }")
    out.append(f"    in_progress --> {PAUSED}: pause")
    out.append(f"    {PAUSED} --> in_progress: resume | retry (to the state it paused from)")
    out.append("  }")
    for row in machine.forward:
        if row.dest not in machine.path:
            out.append(f"  {row.source} --> {row.dest}: {label(row)}")
    cancel = [r for r in machine.transitions if r.trigger == "cancel"]
    for dest in dict.fromkeys(r.dest for r in cancel):
        row = next(r for r in cancel if r.dest == dest and r.source == machine.path[0])
        out.append(f"  not_finished --> {dest}: {label(row)}")
    for row in machine.side:
        out.append(f"  {row.source} --> {row.dest}: {label(row)}")
        out.append(f"  {row.source} --> {PAUSED}: pause")
    for state in sorted(machine.terminal_states, key=machine.states.index):
        out.append(f"  {state} --> [*]")
    return "\n".join(out) + "\n"


def render_markdown(definition: MachineDefinition | None = None) -> str:
    """The whole ``diagrams/onboarding.md`` file: the diagram, then the operator actions."""
    machine = _definition(definition)
    return (
        "# Onboarding state machine\n\n"
        "Generated from the flow definition (`workflow/flows/__init__.py`) by "
        "`onboarding diagram`; do not\nedit by hand. `onboarding diagram --check` (run by the "
        "test suite) fails when it is stale.\n\n![state machine](onboarding.svg)\n\n"
        "```mermaid\n" + render_mermaid(machine) + "```\n\n"
        "## Operator actions\n\n"
        "Each is a transition of the table, taken with `onboarding ACTION KEY --reason …`:\n\n"
        + actions_markdown(machine)
    )


# ---------------------------------------------------------------------- svg
def render_svg(
    definition: MachineDefinition | None = None,
    *,
    current: str | None = None,
    visited: Iterable[str] = (),
    taken: Iterable[tuple[str, str]] = (),
) -> str:
    """The diagram as a standalone SVG with the operator actions below it; ``current`` and the
    ``visited`` states (and the ``taken`` (from, to) path edges) of one onboarding are
    highlighted when given."""
    machine = _definition(definition)
    actions = [(r.action, _describe(r.sources, machine), r.dest) for r in action_rows(machine)]
    return diagram_svg.render_svg(machine, actions, current=current, visited=visited, taken=taken)


# -------------------------------------------------------------------- files
def write(directory: Path, definition: MachineDefinition | None = None) -> list[Path]:
    """Write ``onboarding.md`` and ``onboarding.svg``; returns the files."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {MARKDOWN_NAME: render_markdown(definition), SVG_NAME: render_svg(definition)}
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def check(directory: Path, definition: MachineDefinition | None = None) -> bool:
    """Whether both files in ``directory`` match what the table generates now."""
    expected = {MARKDOWN_NAME: render_markdown(definition), SVG_NAME: render_svg(definition)}
    for name, text in expected.items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            return False
    return True
