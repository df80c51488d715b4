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
from functools import cached_property
from typing import TYPE_CHECKING, Any

from agentflow_nb.render.dot import DotNotFoundError, find_dot, render_svg, to_dot
from agentflow_nb.render.shape import GraphShape, Position, wrap_label
from agentflow_nb.render.style import BASE_CSS, LEGEND_CSS, legend_html, position_classes

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
    "wrap_label",
]

# Where a node's or an edge's class list starts in Graphviz's SVG: `<g id="afn_3" class="node ...`.
_CLASS_AT = re.compile(r'<g id="(af[ne]_\w+)" class="')


@dataclass(frozen=True)
class Drawing:
    """A graph's drawing; `svg` is laid out once, a position only adds CSS classes."""

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

    @cached_property
    def _pieces(self) -> tuple[list[str], dict[str, int]]:
        """The SVG cut where each element's class list starts, so marking costs one join."""
        svg = self.svg
        pieces, slots, last = [], {}, 0
        for match in _CLASS_AT.finditer(svg):
            pieces.append(svg[last : match.end()])
            slots[match.group(1)] = len(pieces)
            last = match.end()
        pieces.append(svg[last:])
        return pieces, slots

    def classes(self, position: Position) -> dict[str, str]:
        """`position_classes` for this drawing; the last answer is kept, as the live view and
        the static picture ask for the same position in turn."""
        last = self.__dict__.get("_last")
        if last is not None and last[0] == position:
            return last[1]
        classes = position_classes(self.shape, position)
        self.__dict__["_last"] = (position, classes)
        return classes

    def marked_svg(self, position: Position | None = None) -> str:
        """The SVG with `position`'s classes written on its elements (no CSS)."""
        pieces, slots = self._pieces
        if position is None:
            return "".join(pieces)
        out = list(pieces)
        for element, classes in self.classes(position).items():
            slot = slots.get(element)
            if slot is not None:
                out[slot] = f"{classes} {out[slot]}"
        return "".join(out)

    def styled_svg(self, position: Position | None = None) -> str:
        """A standalone SVG showing `position`: its CSS inside, in the theme's colours where
        the page has them (light defaults elsewhere)."""
        svg = self.marked_svg(position)
        return svg.replace("<svg ", '<svg class="af_svg" ', 1).replace(
            ">", f"><style>{BASE_CSS}</style>", 1
        )

    def html(self, position: Position | None = None) -> str:
        """The drawing with its legend, as HTML."""
        svg = self.marked_svg(position).replace("<svg ", '<svg class="af_svg" ', 1)
        return (f'<div class="af_static"><style>{BASE_CSS}{LEGEND_CSS}</style>{svg}'
                f"{legend_html()}</div>")

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
