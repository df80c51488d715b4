"""A run's position as CSS over the graph's SVG: a step changes styles, never the layout."""

from __future__ import annotations

import re
from html import escape

from agentflow_nb.render.shape import GraphShape, Position

__all__ = ["BASE_CSS", "LEGEND", "legend_html", "position_css", "position_classes"]

#: Colours, shared by the static drawing and the live widget (which toggles these classes).
BASE_CSS = """
.af_visited path, .af_visited polygon, .af_visited ellipse { fill: #e3f2fd; }
.af_running path, .af_running polygon { fill: #ffe0b2; stroke: #ef6c00; stroke-width: 3px;
  filter: drop-shadow(0 0 5px #ef6c00); }
.af_before path, .af_before polygon { fill: #fff59d; stroke: #f9a825; stroke-width: 3px;
  filter: drop-shadow(0 -4px 3px #f9a825); }
.af_after path, .af_after polygon { fill: #c8e6c9; stroke: #2e7d32; stroke-width: 3px;
  filter: drop-shadow(0 4px 3px #2e7d32); }
.af_done path, .af_done polygon { fill: #cfd8dc; stroke: #37474f; stroke-width: 2px; }
.af_stopped path, .af_stopped polygon { fill: #d1c4e9; stroke: #4527a0; stroke-width: 3px; }
.af_error path, .af_error polygon { fill: #ffcdd2; stroke: #c62828; stroke-width: 3px; }
.af_bp_before path, .af_bp_before polygon { stroke: #d32f2f; stroke-width: 3px; }
.af_bp_after path, .af_bp_after polygon { stroke: #7b1fa2; stroke-width: 3px; stroke-dasharray: 6,3; }
.af_bp_before.af_bp_after path, .af_bp_before.af_bp_after polygon {
  stroke: #d32f2f; stroke-dasharray: 2,2; stroke-width: 4px; }
.af_taken path { stroke: #ef6c00; stroke-width: 3px; }
.af_taken polygon { fill: #ef6c00; stroke: #ef6c00; }
.af_node { cursor: pointer; }
"""

#: (css class, label, swatch style) for the legend.
LEGEND = (
    ("af_before", "paused before", "background:#fff59d;border:2px solid #f9a825"),
    ("af_after", "paused after", "background:#c8e6c9;border:2px solid #2e7d32"),
    ("af_running", "running", "background:#ffe0b2;border:2px solid #ef6c00"),
    ("af_visited", "ran this run", "background:#e3f2fd;border:1px solid #607d8b"),
    ("af_bp_before", "break before", "background:#fff;border:2px solid #d32f2f"),
    ("af_bp_after", "break after", "background:#fff;border:2px dashed #7b1fa2"),
    ("af_taken", "edge just taken", "background:#ef6c00;height:3px;margin-top:5px"),
)


def position_classes(shape: GraphShape, position: Position) -> dict[str, list[str]]:
    """Element id -> CSS classes that show `position`."""
    classes: dict[str, list[str]] = {}

    def mark(element: str | None, css: str) -> None:
        if element is not None:
            classes.setdefault(element, []).append(css)

    ids = shape.node_ids()
    for name in position.visited:
        mark(ids.get(name), "af_visited")
    for name in position.before:
        mark(ids.get(name), "af_bp_before")
    for name in position.after:
        mark(ids.get(name), "af_bp_after")
    if position.current is not None and position.phase is not None:
        mark(ids.get(position.current), f"af_{position.phase}")
    if position.edge is not None:
        mark(shape.edge_id(*position.edge), "af_taken")
    return classes


def _parse(css: str) -> list[tuple[list[str], str]]:
    rules = []
    for block in css.split("}"):
        selectors, brace, body = block.partition("{")
        if brace:
            rules.append(([s.strip() for s in selectors.split(",")], body.strip()))
    return rules


_RULES = _parse(BASE_CSS)


def position_css(shape: GraphShape, position: Position) -> str:
    """CSS that paints `position` onto the static SVG: the class rules, keyed by element id."""
    out = []
    for element, names in position_classes(shape, position).items():
        have = set(names)
        for selectors, body in _RULES:
            own = []
            for selector in selectors:
                head, _, tail = selector.partition(" ")
                needed = set(re.findall(r"af_\w+", head))
                if needed and needed <= have:
                    own.append(f"#{element} {tail}")
            if own:
                out.append(", ".join(own) + " { " + body + " }")
    return "\n".join(out)


def legend_html() -> str:
    """A one-line legend of the colours."""
    items = "".join(
        f'<span style="display:inline-flex;align-items:center;margin-right:10px">'
        f'<span style="display:inline-block;width:14px;height:10px;margin-right:4px;{style}"></span>'
        f"{escape(label)}</span>"
        for _, label, style in LEGEND
    )
    return f'<div class="af_legend" style="font:11px Helvetica,sans-serif;color:#455a64">{items}</div>'
