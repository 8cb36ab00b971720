"""Diagrams of the onboarding machine, generated from :data:`workflow.flow.TRANSITIONS`.

``diagrams/onboarding.md`` holds a Mermaid state diagram (rendered by ``transitions``' own
Mermaid engine); ``diagrams/onboarding.svg`` is added when Graphviz ``dot`` is on the PATH.
:func:`check` tells whether the committed Markdown still matches the table.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from transitions.extensions import GraphMachine

from workflow.flow import STATES, TERMINAL_STATES, TRANSITIONS

__all__ = ["check", "render_dot", "render_markdown", "render_mermaid", "write"]

TITLE = "Sent sender profile onboarding"
MARKDOWN_NAME = "onboarding.md"
SVG_NAME = "onboarding.svg"


def render_mermaid() -> str:
    """The Mermaid ``stateDiagram-v2`` text of the machine, guards shown in brackets."""
    machine = GraphMachine(
        states=list(STATES),
        transitions=[row.as_dict() for row in TRANSITIONS],
        initial="pending",
        auto_transitions=False,
        graph_engine="mermaid",
        show_conditions=True,
        title=TITLE,
    )
    text: str = machine.get_graph().draw(None)
    # Mermaid's keyword is lower-case ``class``; drop the "active state" styling of a live model.
    lines = [line.replace("  Class ", "  class ") for line in text.splitlines()]
    lines = [
        line.replace(" s_active", " s_default") if "class " in line else line for line in lines
    ]
    return "\n".join(line.rstrip() for line in lines).strip() + "\n"


def render_markdown() -> str:
    """The whole ``diagrams/onboarding.md`` file."""
    return (
        "# Onboarding state machine\n\n"
        "Generated from `workflow/flow.py` by `onboarding diagram`; do not edit by hand.\n"
        "`onboarding diagram --check` (run by the test suite) fails when this file is stale.\n\n"
        "```mermaid\n" + render_mermaid() + "```\n"
    )


def render_dot() -> str:
    """The same machine as Graphviz DOT, for the SVG."""
    lines = [
        "digraph onboarding {",
        '  rankdir=LR; node [shape=box, style=rounded, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for state in STATES:
        shape = ", peripheries=2" if state in TERMINAL_STATES else ""
        lines.append(f'  "{state}" [label="{state}"{shape}];')
    labels: dict[tuple[str, str], list[str]] = {}
    for row in TRANSITIONS:
        guards = " & ".join(g.__name__ for g in row.conditions)
        labels.setdefault((row.source, row.dest), []).append(
            row.trigger + (f" [{guards}]" if guards else "")
        )
    for (source, dest), names in labels.items():
        label = "\\n".join(names)
        lines.append(f'  "{source}" -> "{dest}" [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def write(directory: Path) -> list[Path]:
    """Write the Markdown diagram, and the SVG when ``dot`` is installed; returns the files."""
    directory.mkdir(parents=True, exist_ok=True)
    markdown = directory / MARKDOWN_NAME
    markdown.write_text(render_markdown(), encoding="utf-8")
    written = [markdown]
    dot = shutil.which("dot")
    if dot is not None:
        svg = directory / SVG_NAME
        subprocess.run(
            [dot, "-Tsvg", "-o", str(svg)], input=render_dot(), text=True, check=True, timeout=60
        )
        written.append(svg)
    return written


def check(directory: Path) -> bool:
    """Whether ``directory/onboarding.md`` matches what the table generates now."""
    markdown = directory / MARKDOWN_NAME
    return markdown.is_file() and markdown.read_text(encoding="utf-8") == render_markdown()
