"""How a run's position looks: the one place that decides it.

`position_classes` turns a position into CSS classes per SVG element; `BASE_CSS` says what each
class looks like. The live widget puts those classes on its SVG; the static drawing (a cell's
picture, a saved notebook's fallback) writes them into the SVG text. Colours come from
JupyterLab's theme variables (`--jp-*`), so light, dark and high-contrast themes all read well;
the fallbacks after each variable are for pages without a Jupyter theme.
"""

from __future__ import annotations

from html import escape

from agentflow_nb.render.shape import GraphShape, Position

__all__ = ["BASE_CSS", "LEGEND", "legend_html", "position_classes"]

_TINT = "color-mix(in srgb, var({color}) {pct}%, var(--af-bg))"


def _mark(css: str, color: str, pct: int, width: float, extra: str = "") -> str:
    fill = _TINT.format(color=color, pct=pct)
    return f"{_shapes(css)} {{ fill: {fill}; stroke: var({color}); stroke-width: {width}px; {extra}}}\n"


def _shapes(css: str) -> str:
    """Selectors for the outline of nodes carrying `css` (with or without a tooltip link)."""
    return ", ".join(f".af_svg .af_node.{css} > {inner}" for inner in ("path", "polygon", "g > a > path",
                                                                       "g > a > polygon"))


#: Theme colours, then the look of each mark. Later rules win: breakpoints (the outline) are
#: drawn over the position's outline, the position keeps its fill and glow.
BASE_CSS = (
    """
.af_svg, .af_legend, .af_static {
  --af-fg: var(--jp-content-font-color1, #1f1f1f);
  --af-fg2: var(--jp-content-font-color2, #555555);
  --af-bg: var(--jp-layout-color1, #ffffff);
  --af-line: var(--jp-border-color1, #8a8a8a);
  --af-path: var(--jp-brand-color1, #1976d2);
  --af-running: var(--jp-brand-color1, #1976d2);
  --af-before: var(--jp-warn-color1, #f57c00);
  --af-after: var(--jp-success-color1, #388e3c);
  --af-stopped: var(--jp-ui-font-color2, #616161);
  --af-done: var(--jp-info-color1, #0097a7);
  --af-error: var(--jp-error-color1, #d32f2f);
  --af-break: var(--jp-error-color1, #d32f2f);
}
.af_svg text { fill: var(--af-fg); }
.af_svg .af_edge text { fill: var(--af-fg2); }
.af_svg .af_node path, .af_svg .af_node polygon { fill: var(--af-bg); stroke: var(--af-line); }
.af_svg .af_edge path { stroke: var(--af-fg2); }
.af_svg .af_edge polygon { fill: var(--af-fg2); stroke: var(--af-fg2); }
.af_svg .af_node { cursor: pointer; }
.af_svg .af_edge > path { fill: none; }
.af_svg .af_path.af_edge path { stroke: var(--af-path); stroke-width: 2px; }
.af_svg .af_path.af_edge polygon { fill: var(--af-path); stroke: var(--af-path); }
.af_svg .af_taken.af_edge path { stroke: var(--af-path); stroke-width: 3.5px; }
.af_svg .af_taken.af_edge polygon { fill: var(--af-path); stroke: var(--af-path); stroke-width: 2px; }
"""
    + _mark("af_path", "--af-path", 14, 1.4)
    + _mark("af_running", "--af-running", 30, 3, "stroke-dasharray: 7 4; animation: af_march 0.9s linear infinite; ")
    + _mark("af_stopping", "--af-running", 12, 3, "stroke-dasharray: 2 4; ")
    + _mark("af_before", "--af-before", 32, 3.5, "filter: drop-shadow(0 0 4px var(--af-before)); ")
    + _mark("af_after", "--af-after", 32, 3.5, "filter: drop-shadow(0 0 4px var(--af-after)); ")
    + _mark("af_stopped", "--af-stopped", 30, 3.5, "stroke-dasharray: 12 2 2 2; ")
    + _mark("af_done", "--af-done", 28, 3)
    + _mark("af_error", "--af-error", 30, 3.5, "filter: drop-shadow(0 0 4px var(--af-error)); ")
    + """
"""
    + f"{_shapes('af_bp_before')} {{ stroke: var(--af-break); stroke-width: 3px; stroke-dasharray: none; }}\n"
    + f"{_shapes('af_bp_after')} {{ stroke: var(--af-break); stroke-width: 3px; stroke-dasharray: 6 3; }}\n"
    + f"{_shapes('af_bp_before.af_bp_after')} {{ stroke-width: 4px; stroke-dasharray: 1 3; "
    "stroke-linecap: round; }\n"
    + """.af_svg g.af_start ellipse, .af_svg g.af_end ellipse { fill: var(--af-fg); stroke: var(--af-fg); }
.af_svg g.af_start.af_after ellipse, .af_svg g.af_start.af_before ellipse {
  stroke: var(--af-after); stroke-width: 5px; }
.af_svg g.af_end.af_done ellipse { stroke: var(--af-done); stroke-width: 4px; }
.af_svg g.af_any text { fill: var(--af-fg2); }
@keyframes af_march { to { stroke-dashoffset: -22; } }
@media (prefers-reduced-motion: reduce) { .af_svg .af_running > path { animation: none; } }
"""
)

#: (classes, label, kind) for each legend entry; swatches use the classes above.
LEGEND: tuple[tuple[str, str, str], ...] = (
    ("af_before", "paused before", "node"),
    ("af_after", "paused after", "node"),
    ("af_running", "running", "node"),
    ("af_stopping", "stopping", "node"),
    ("af_stopped", "stopped", "node"),
    ("af_done", "done", "node"),
    ("af_error", "error", "node"),
    ("af_bp_before", "break before", "node"),
    ("af_bp_after", "break after", "node"),
    ("af_path", "path taken", "node"),
    ("af_taken", "edge just taken", "edge"),
)


def position_classes(shape: GraphShape, position: Position) -> dict[str, str]:
    """Element id -> the CSS classes (space separated) that show `position` on the drawing."""
    ids = shape.node_ids()
    marks: dict[str, str] = {}
    for name in position.visited:  # the path: most of the work, so plain dict stores
        element = ids.get(name)
        if element is not None:
            marks[element] = "af_path"
    for source, target in position.path_edges:
        element = shape.edge_id(source, target)
        if element is not None:
            marks[element] = "af_path"

    def add(element: str | None, css: str) -> None:
        if element is not None:
            marks[element] = f"{marks[element]} {css}" if element in marks else css

    if position.current is not None and position.phase is not None:
        add(ids.get(position.current), f"af_{position.phase}")
    for name in position.before:
        add(ids.get(name), "af_bp_before")
    for name in position.after:
        add(ids.get(name), "af_bp_after")
    if position.edge is not None:
        add(shape.edge_id(*position.edge), "af_taken")
    return marks


def _swatch(classes: str, kind: str) -> str:
    if kind == "edge":
        body = f'<g class="af_edge {classes}"><path d="M2,9 H24" fill="none"/></g>'
    else:
        body = (f'<g class="af_node {classes}"><path d="M5,3 H21 Q24,3 24,6 V12 Q24,15 21,15 H5 Q2,15 2,12 '
                f'V6 Q2,3 5,3 Z"/></g>')
    return f'<svg class="af_svg" width="22" height="15" viewBox="0 0 26 18" aria-hidden="true">{body}</svg>'


def legend_html() -> str:
    """The legend: a swatch drawn with the same CSS as the graph, and its meaning, per mark."""
    items = "".join(
        f'<span class="af_legend_item">{_swatch(classes, kind)}{escape(label)}</span>'
        for classes, label, kind in LEGEND
    )
    return f'<div class="af_legend">{items}</div>'


#: Layout of the legend; the swatches' look comes from BASE_CSS.
LEGEND_CSS = """
.af_legend { display: flex; flex-wrap: wrap; gap: 0 9px; font: 11px var(--jp-ui-font-family, sans-serif);
  color: var(--af-fg); line-height: 17px; }
.af_legend_item { display: inline-flex; align-items: center; gap: 4px; white-space: nowrap; }
"""
