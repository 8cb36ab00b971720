"""The committed diagram is generated from the flow definition, reads at a glance, and the check
notices drift."""

from __future__ import annotations

import dataclasses
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from workflow.core.machine import TransitionSpec
from workflow.flows import FLOW, TRANSITIONS, diagram

COMMITTED = Path(__file__).resolve().parent.parent / "diagrams"
SVG = "{http://www.w3.org/2000/svg}"


def _boxes(svg: str) -> dict[str, tuple[float, float]]:
    """Each state's box as (x, y of its top edge), read from the SVG's state groups."""
    root = ET.fromstring(svg)
    found = {}
    for group in root.iter(f"{SVG}g"):
        state = group.get("data-state")
        if state is None:
            continue
        rects = group.findall(f"{SVG}rect")
        body = rects[-1]  # a terminal state's outer ring comes first
        found[state] = (float(body.get("x", "0")), float(body.get("y", "0")))
    return found


def test_committed_diagram_is_current() -> None:
    """diagrams/ holds what the flow definition generates (run 'onboarding diagram' if not)."""
    assert diagram.check(COMMITTED)


def test_every_row_of_the_table_is_drawn_grouped_or_tabled() -> None:
    """Together the picture and the actions table show the whole transition table."""
    shown = diagram.shown_rows()
    assert shown["drawn"] | shown["grouped"] | shown["tabled"] == set(TRANSITIONS)


def test_the_path_is_one_straight_line_and_the_rest_stands_apart() -> None:
    """pending → … → complete share one line left to right; the outcomes follow complete;
    needs_attention, cancelling and cancelled sit below the line."""
    boxes = _boxes(diagram.render_svg())
    path = ["pending", "incomplete", "brand", "campaigns", "complete"]
    assert {boxes[s][1] for s in path} == {boxes["pending"][1]}
    xs = [boxes[s][0] for s in path]
    assert xs == sorted(xs)
    for outcome in ("submitted", "completed"):
        assert boxes[outcome][0] > boxes["complete"][0]
    for apart in ("needs_attention", "cancelling", "cancelled"):
        assert boxes[apart][1] > boxes["pending"][1] + 60


def test_the_diagram_draws_eleven_arrows_not_one_per_state_and_action() -> None:
    """Six forward rows, delete_profile, pause and resume once, cancel twice: 11 arrows (the
    table has 61 rows; the operator actions are a table)."""
    root = ET.fromstring(diagram.render_svg())
    assert len(root.findall(f".//{SVG}polyline")) == 11
    assert len(TRANSITIONS) == 61


def test_the_operator_actions_table_lists_each_action() -> None:
    """resume, retry, rewind, cancel and amend each appear in the Markdown table, once a row."""
    text = diagram.render_markdown()
    table = text.split("## Operator actions", 1)[1]
    assert "| `resume` | needs_attention | the state it paused from |" in table
    assert "| `retry` | every state in progress | itself |" in table
    assert (
        "| `rewind` | incomplete, brand, campaigns, complete, needs_attention "
        "| an earlier state of the path (--to S) |" in table
    )
    assert "| `cancel` | every state not finished | cancelled |" in table
    assert "| `amend` | pending, needs_attention | itself |" in table


def test_one_onboarding_is_highlighted() -> None:
    """The current state and the states it went through carry their own classes."""
    svg = diagram.render_svg(current="campaigns", visited=["pending", "incomplete", "brand"])
    root = ET.fromstring(svg)
    classes = {g.get("data-state"): g.get("class") for g in root.iter(f"{SVG}g")}
    assert classes["campaigns"] == "state current"
    assert classes["brand"] == "state visited"
    assert classes["complete"] == "state"
    assert classes["completed"] == "state terminal"


def test_check_fails_when_the_table_changes(tmp_path: Path) -> None:
    """Adding a transition to the definition makes the committed diagram stale."""
    for name in (diagram.MARKDOWN_NAME, diagram.SVG_NAME):
        shutil.copy(COMMITTED / name, tmp_path / name)
    assert diagram.check(tmp_path)
    side = (*FLOW.machine.side, TransitionSpec("archive", "cancelling", "archived"))
    changed = dataclasses.replace(FLOW.machine, side=side)
    assert not diagram.check(tmp_path, changed)


def test_check_fails_when_a_file_is_missing_or_edited(tmp_path: Path) -> None:
    """A missing or hand-edited diagram fails the check, the SVG as well as the Markdown."""
    assert not diagram.check(tmp_path)
    diagram.write(tmp_path)
    assert diagram.check(tmp_path)
    svg = tmp_path / diagram.SVG_NAME
    svg.write_text(svg.read_text().replace("pending", "pendng", 1))
    assert not diagram.check(tmp_path)
    diagram.write(tmp_path)
    path = tmp_path / diagram.MARKDOWN_NAME
    path.write_text(path.read_text() + "\n%% edited\n")
    assert not diagram.check(tmp_path)


def test_mermaid_draws_the_path_inside_one_group() -> None:
    """The Mermaid text nests the path in 'in progress' and draws pause and cancel once from
    the groups (pause once more from cancelling, the one state in progress off the path)."""
    text = diagram.render_mermaid()
    assert "pending --> incomplete: create_profile" in text
    assert "campaigns --> complete: request_completion [prerequisites_met]" in text
    assert text.count("in_progress --> needs_attention: pause") == 1
    assert text.count("--> needs_attention: pause") == 2
    assert text.count("not_finished --> cancelled") == 1


def test_the_readme_shows_the_generated_actions_table() -> None:
    """The README's operator actions table is the one the diagram generates."""
    readme = (COMMITTED.parent / "README.md").read_text(encoding="utf-8")
    assert diagram.actions_markdown(FLOW.machine) in readme
