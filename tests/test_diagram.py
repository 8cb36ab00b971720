"""The committed diagram is generated from the transition table, and the check notices drift."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workflow import diagram
from workflow.flow import TRANSITIONS
from workflow.machine import TransitionSpec

COMMITTED = Path(__file__).resolve().parent.parent / "diagrams"


def test_committed_diagram_is_current() -> None:
    """diagrams/onboarding.md matches the machine definition (run 'onboarding diagram' if not)."""
    assert diagram.check(COMMITTED)


def test_every_transition_appears_in_the_diagram() -> None:
    """Each row of the table is an edge of the Mermaid diagram."""
    text = diagram.render_mermaid()
    for row in TRANSITIONS:
        assert f"{row.source} --> {row.dest}:" in text
        assert row.trigger in text


def test_check_fails_when_the_table_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adding a transition makes the committed diagram stale."""
    shutil.copy(COMMITTED / diagram.MARKDOWN_NAME, tmp_path / diagram.MARKDOWN_NAME)
    assert diagram.check(tmp_path)
    extra = (*TRANSITIONS, TransitionSpec("archive", "cancelled", "pending"))
    monkeypatch.setattr(diagram, "TRANSITIONS", extra)
    assert not diagram.check(tmp_path)


def test_check_fails_when_the_file_is_missing_or_edited(tmp_path: Path) -> None:
    """A missing or hand-edited diagram fails the check."""
    assert not diagram.check(tmp_path)
    diagram.write(tmp_path)
    assert diagram.check(tmp_path)
    path = tmp_path / diagram.MARKDOWN_NAME
    path.write_text(path.read_text() + "\n%% edited\n")
    assert not diagram.check(tmp_path)


def test_dot_source_has_every_edge() -> None:
    """The Graphviz source used for the SVG carries the same edges."""
    dot = diagram.render_dot()
    for row in TRANSITIONS:
        assert f'"{row.source}" -> "{row.dest}"' in dot
