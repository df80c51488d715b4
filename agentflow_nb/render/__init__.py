"""Pure drawing: a compiled graph plus a run position -> DOT -> SVG. No Jupyter imports.

Example:
    >>> from agentflow_nb import StateGraph
    >>> from agentflow_nb.render import Drawing
    >>> graph = StateGraph()
    >>> _ = graph.add_node("A", lambda s: None)
    >>> "afn_0" in Drawing.of(graph.compile()).dot
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentflow_nb.render.dot import DotNotFoundError, find_dot, render_svg, to_dot
from agentflow_nb.render.shape import GraphShape, Position
from agentflow_nb.render.style import BASE_CSS, legend_html, position_classes, position_css

if TYPE_CHECKING:
    from agentflow_nb.graph.compiled import CompiledGraph

__all__ = [
    "BASE_CSS",
    "DotNotFoundError",
    "Drawing",
    "GraphShape",
    "Position",
    "find_dot",
    "legend_html",
    "position_classes",
    "render_svg",
    "to_dot",
]


@dataclass(frozen=True)
class Drawing:
    """A graph's drawing; `svg` is laid out once, `styled_svg(position)` only adds CSS."""

    shape: GraphShape
    dot: str

    @classmethod
    def of(cls, app: CompiledGraph) -> Drawing:
        """The drawing of a compiled graph."""
        shape = GraphShape.of(app)
        return cls(shape, to_dot(shape))

    @property
    def svg(self) -> str:
        """The laid-out SVG (runs `dot` the first time this shape is drawn)."""
        return render_svg(self.dot)

    def styled_svg(self, position: Position | None = None) -> str:
        """The SVG with `position` painted on by a `<style>` block."""
        css = position_css(self.shape, position) if position is not None else ""
        return re.sub(r"(<svg\b[^>]*>)", lambda m: f"{m.group(1)}<style>{css}</style>", self.svg, count=1)

    def html(self, position: Position | None = None) -> str:
        """The styled SVG with a legend under it."""
        return f'<div class="af_drawing">{self.styled_svg(position)}{legend_html()}</div>'

    def source(self) -> Any:
        """The DOT as a `graphviz.Source`, to render to PNG or PDF with the graphviz package."""
        try:
            import graphviz
        except ImportError as exc:
            raise ImportError(
                "`Drawing.source()` needs the graphviz package: `pip install agentflow_nb[notebook]`"
            ) from exc
        return graphviz.Source(self.dot)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"image/svg+xml": self.styled_svg(), "text/html": self.html()}
