"""The onboarding diagram as SVG, laid out by hand for a linear path (no Graphviz needed).

The path runs on one straight line inside two dashed frames ("in progress", "not finished")
from which the rows every flow has are drawn once; outcomes follow the last path state; the
paused state and the cancel states sit below. Each state is a ``<g id="state-<name>"
data-state="<name>" class="state …">``: ``current``, ``visited`` and ``terminal`` classes, and
colours set as attributes (no ``<style>``, so a page with a strict Content Security Policy can
inline it and restyle it with its own stylesheet).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

from workflow.core.machine import CANCELLED, CANCELLING, PAUSED, MachineDefinition, TransitionSpec

__all__ = ["guards", "label", "outcomes", "render_svg"]

TITLE: Final = "Sent sender profile onboarding"


def guards(row: TransitionSpec) -> str:
    guards = [g.__name__ for g in row.conditions] + [f"!{g.__name__}" for g in row.unless]
    return f"[{' & '.join(guards)}]" if guards else ""


def label(row: TransitionSpec) -> str:
    shown = guards(row)
    return row.trigger + (f" {shown}" if shown else "")


def outcomes(machine: MachineDefinition) -> list[str]:
    last = machine.path[-1]
    return [row.dest for row in machine.forward if row.source == last]


@dataclass(frozen=True)
class _Box:
    name: str
    x: float
    y: float  # centre
    w: float
    h: float = 34.0

    @property
    def left(self) -> float:
        return self.x

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def cx(self) -> float:
        return self.x + self.w / 2


_CHAR: Final = 7.4  # width of a 13 px Helvetica character, near enough for layout
_SMALL: Final = 6.1  # 11 px
_FILL: Final = {PAUSED: "#fff4d6", CANCELLING: "#eeeeee", CANCELLED: "#eeeeee"}


def _width(text: str) -> float:
    return max(96.0, len(text) * _CHAR + 28)


class _Svg:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def text(self, x: float, y: float, s: str, *, size: int = 11, anchor: str = "middle",
             weight: str = "normal", fill: str = "#333333") -> None:  # fmt: skip
        self.parts.append(
            f'<text x="{x:.0f}" y="{y:.0f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{fill}">{escape(s)}</text>'
        )

    def line(self, points: Sequence[tuple[float, float]], *, cls: str = "edge",
             dashed: bool = False, color: str = "#555555") -> None:  # fmt: skip
        d = " ".join(f"{x:.0f},{y:.0f}" for x, y in points)
        dash = ' stroke-dasharray="5,4"' if dashed else ""
        self.parts.append(
            f'<polyline class="{cls}" points="{d}" fill="none" stroke="{color}" '
            f'stroke-width="1.4" marker-end="url(#arrow)"{dash}/>'
        )

    def frame(self, x: float, y: float, w: float, h: float, label: str, note: str) -> None:
        self.parts.append(
            f'<rect class="group" x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{h:.0f}" '
            'rx="10" fill="none" stroke="#9aa5b1" stroke-dasharray="6,4"/>'
        )
        self.text(x + 10, y + 16, label, anchor="start", weight="bold", fill="#52606d")
        self.text(x + 12 + len(label) * _SMALL + 6, y + 16, note, anchor="start", fill="#7b8794")


def _layout(machine: MachineDefinition) -> tuple[dict[str, _Box], dict[str, float]]:
    gaps = {}
    for row in machine.forward:
        if row.dest in machine.path:
            longest = max(len(row.trigger), len(guards(row)))
            gaps[row.source] = max(70.0, longest * _SMALL + 26)
    boxes: dict[str, _Box] = {}
    x, path_y = 56.0, 116.0
    for state in machine.path:
        boxes[state] = _Box(state, x, path_y, _width(state))
        x += boxes[state].w + gaps.get(state, 0)
    inner_right = x + 16
    ends = outcomes(machine)
    labels = [guards(r) for r in machine.forward if r.source == machine.path[-1]]
    ox = inner_right + 60 + max(len(s) for s in labels) * _SMALL
    spread = 44.0
    for index, state in enumerate(ends):
        y = path_y + (index - (len(ends) - 1) / 2) * spread
        boxes[state] = _Box(state, ox, y, _width(state))
    boxes[PAUSED] = _Box(PAUSED, 56 + (inner_right - 56) / 2 - _width(PAUSED) / 2, 246.0,
                         _width(PAUSED))  # fmt: skip
    # The bottom row: states a side step runs in, then where their steps lead, then cancelled.
    bottom = sorted(machine.active_states - set(machine.path))
    bottom += sorted(machine.terminal_states - {*ends, CANCELLED})
    sx = ox
    gap = max([110.0, *(len(label(r)) * _SMALL + 30 for r in machine.side)])
    for state in [*bottom, CANCELLED]:
        boxes[state] = _Box(state, sx, 300.0, _width(state))
        sx += boxes[state].w + gap
    frames = {"inner_right": inner_right, "outer_right": inner_right + 12, "path_y": path_y}
    return boxes, frames


def _node(svg: _Svg, box: _Box, machine: MachineDefinition, current: str | None,
          visited: set[str]) -> None:  # fmt: skip
    name = box.name
    classes = ["state"]
    fill, stroke, width = _FILL.get(name, "#ffffff"), "#3e4c59", 1.4
    if name in machine.terminal_states:
        classes.append("terminal")
    if name in visited and name != current:
        classes.append("visited")
        fill, stroke, width = "#e3f2fd", "#1565c0", 2.0
    if name == current:
        classes.append("current")
        fill, stroke, width = "#ffe0b2", "#e65100", 3.0
    top = box.y - box.h / 2
    svg.parts.append(
        f'<g id="state-{escape(name)}" class="{" ".join(classes)}" data-state="{escape(name)}">'
    )
    if name in machine.terminal_states:
        svg.parts.append(
            f'<rect x="{box.x - 3:.0f}" y="{top - 3:.0f}" width="{box.w + 6:.0f}" '
            f'height="{box.h + 6:.0f}" rx="9" fill="none" stroke="{stroke}" stroke-width="1"/>'
        )
    svg.parts.append(
        f'<rect x="{box.x:.0f}" y="{top:.0f}" width="{box.w:.0f}" height="{box.h:.0f}" rx="7" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"/>'
    )
    svg.text(box.cx, box.y + 4.5, name, size=13, weight="bold", fill="#1f2933")
    svg.parts.append(f"<title>{escape(name)}</title></g>")


def _edges(svg: _Svg, machine: MachineDefinition, boxes: dict[str, _Box],
           frames: dict[str, float], taken: set[tuple[str, str]]) -> None:  # fmt: skip
    for row in machine.forward:
        a, b = boxes[row.source], boxes[row.dest]
        hot = (row.source, row.dest) in taken
        color = "#1565c0" if hot else "#555555"
        cls = "edge taken" if hot else "edge"
        if row.dest in machine.path:
            svg.line([(a.right, a.y), (b.left - 2, b.y)], cls=cls, color=color)
            svg.text((a.right + b.left) / 2, a.y - 8, row.trigger)
            if guards(row):
                svg.text((a.right + b.left) / 2, a.y + 16, guards(row), fill="#7b8794")
        else:
            mid = a.right + 44  # past both frames
            svg.line([(a.right, a.y), (mid, a.y), (mid, b.y), (b.left - 2, b.y)], cls=cls,
                     color=color)  # fmt: skip
            svg.text(mid + 6, a.y + 4, row.trigger, anchor="start")
            svg.text(b.left - 6, b.y - 6, guards(row), anchor="end", fill="#7b8794")
    path_y = frames["path_y"]
    paused = boxes[PAUSED]
    svg.line([(paused.cx - 40, path_y + 40), (paused.cx - 40, paused.y - 19)])
    svg.text(paused.cx - 48, paused.y - 40, "pause", anchor="end")
    svg.line([(paused.cx + 40, paused.y - 17), (paused.cx + 40, path_y + 42)])
    svg.text(paused.cx + 48, paused.y - 40, "resume | retry: to the state it paused from",
             anchor="start")  # fmt: skip
    outer_right, low = frames["outer_right"], 340.0
    cancels = [r for r in machine.transitions if r.trigger == "cancel"]
    for dest in dict.fromkeys(r.dest for r in cancels):
        row = next(r for r in cancels if r.dest == dest)
        b = boxes[dest]
        if dest == CANCELLED:  # below the others, then up into cancelled
            svg.line([(outer_right, low), (b.cx, low), (b.cx, b.y + 19)])
            svg.text(outer_right + 8, low - 6, label(row), anchor="start")
        else:
            svg.line([(outer_right, b.y), (b.left - 2, b.y)])
            svg.text(b.left - 6, b.y - 8, label(row), anchor="end")
    for row in machine.side:
        a, b = boxes[row.source], boxes[row.dest]
        svg.line([(a.right, a.y), (b.left - 2, b.y)])
        svg.text((a.right + b.left) / 2, a.y - 8, label(row))
        svg.text(a.cx, a.y + 32, "runs its step: pause, retry as in progress", fill="#7b8794")


def render_svg(
    machine: MachineDefinition,
    actions: Sequence[tuple[str, str, str]],
    *,
    current: str | None = None,
    visited: Iterable[str] = (),
    taken: Iterable[tuple[str, str]] = (),
) -> str:
    """The diagram as a standalone SVG, with ``actions`` (action, from, to) as a table below;
    ``current`` and the ``visited`` states (and the ``taken`` (from, to) path edges) of one
    onboarding are highlighted when given."""
    boxes, frames = _layout(machine)
    svg = _Svg()
    outer_right = frames["outer_right"]
    svg.frame(20, 20, outer_right - 20, 332, "not finished", "cancel from any of these")
    svg.frame(32, 58, frames["inner_right"] - 32, 116, "in progress",
              "each runs its step; pause and retry from any of these")  # fmt: skip
    _edges(svg, machine, boxes, frames, set(taken))
    seen = set(visited) | ({current} if current else set())
    for box in boxes.values():
        _node(svg, box, machine, current, seen)
    y = 392.0
    svg.text(20, y, "Operator actions (onboarding ACTION KEY --reason …)", size=12,
             anchor="start", weight="bold", fill="#1f2933")  # fmt: skip
    for action, sources, dest in actions:
        y += 18
        svg.text(28, y, action, size=12, anchor="start", weight="bold", fill="#1f2933")
        svg.text(96, y, f"from {sources}  →  {dest}", size=12, anchor="start")
    width = max(b.right for b in boxes.values()) + 24
    height = y + 20
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif" '
        'role="img" aria-label="Onboarding state machine">'
        f"<title>{TITLE}</title>"
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#555555"/></marker></defs>'
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>'
    )
    return head + "\n".join(svg.parts) + "</svg>\n"
