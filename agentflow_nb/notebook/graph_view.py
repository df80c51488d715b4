"""The live graph: an anywidget that gets the SVG once, then only the CSS classes of a position.

Click a node to toggle a breakpoint before it; shift+click for one after it; right-click for
"run to here". Drag to pan, ctrl+wheel to zoom; fit and follow buttons; a minimap when the
graph is larger than its viewport. Where custom widgets do not load, `BreakpointPicker` (stock
ipywidgets) sets breakpoints and runs to a node.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as widgets
import traitlets

from agentflow_nb.render import BASE_CSS, Drawing, Position
from agentflow_nb.render.shape import GraphShape
from agentflow_nb.render.style import LEGEND_CSS

__all__ = ["BreakpointPicker", "GraphView"]

_STATIC = Path(__file__).with_name("static")
#: The whole debugger's stylesheet rides on the graph widget (anywidget puts it in the page).
CSS = BASE_CSS + LEGEND_CSS + (_STATIC / "debugger.css").read_text(encoding="utf-8")
Handler = Callable[..., None]


class GraphView(anywidget.AnyWidget):
    """The graph with the run's position painted on. Only small traits change per step."""

    _esm = traitlets.Unicode((_STATIC / "graph.js").read_text(encoding="utf-8")).tag(sync=True)
    _css = traitlets.Unicode(CSS).tag(sync=True)
    svg = traitlets.Unicode("", help="The laid-out SVG; sent once per graph shape.").tag(sync=True)
    node_ids = traitlets.Dict(help="Node name -> SVG element id.").tag(sync=True)
    marks = traitlets.Dict(help="SVG element id -> CSS classes showing the position.").tag(sync=True)
    current = traitlets.Unicode("", help="The node the run is at.").tag(sync=True)
    phase = traitlets.Unicode("", help="before, after, running, stopping, done, stopped or error.").tag(sync=True)
    focus = traitlets.Unicode("", help="SVG id of the node to keep in view.").tag(sync=True)
    before = traitlets.List(traitlets.Unicode(), help="Nodes with a breakpoint before.").tag(sync=True)
    after = traitlets.List(traitlets.Unicode(), help="Nodes with a breakpoint after.").tag(sync=True)

    def __init__(self, drawing: Drawing, **kwargs: Any) -> None:
        super().__init__(svg=drawing.svg, node_ids=drawing.shape.node_ids(), **kwargs)
        self.drawing = drawing
        self.shape: GraphShape = drawing.shape
        self._ids = drawing.shape.node_ids()
        self._handlers: dict[str, list[Handler]] = {}
        self.position = Position()
        self.on_msg(self._on_front_end_msg)

    def show(self, position: Position) -> None:
        """Move the painted position (a few small trait updates, no re-layout)."""
        self.position = position
        with self.hold_sync():
            self.marks = self.drawing.classes(position)
            self.current = position.current or ""
            self.phase = position.phase or ""
            self.focus = self._ids.get(position.current or "", "")
            self.before = sorted(position.before)
            self.after = sorted(position.after)

    @property
    def edge_id(self) -> str:
        """The SVG id of the edge just taken ("" if none)."""
        edge = self.position.edge
        return (self.shape.edge_id(*edge) or "") if edge else ""

    @property
    def visited(self) -> list[str]:
        """The nodes on the path taken, sorted."""
        return sorted(self.position.visited)

    def insert_cell(self, code: str) -> None:
        """Ask the page to put `code` in a new cell below this one (or on the clipboard)."""
        self.send({"event": "insert_cell", "code": code})

    # -- events from the page ---------------------------------------------------------------

    def on_node_click(self, callback: Callable[[str, str], None], remove: bool = False) -> None:
        """Call `callback(node, where)` when a node is clicked (`where`: before or after)."""
        self._on("toggle", callback, remove)

    def on_run_to(self, callback: Callable[[str], None], remove: bool = False) -> None:
        """Call `callback(node)` when "Run to here" is picked on a node."""
        self._on("run_to", callback, remove)

    def on_key(self, callback: Callable[[str], None], remove: bool = False) -> None:
        """Call `callback(action)` for a keyboard shortcut: resume, step, stop or live."""
        self._on("key", callback, remove)

    def on_inserted(self, callback: Callable[[str], None], remove: bool = False) -> None:
        """Call `callback(how)` once copied code landed: cell, clipboard or failed."""
        self._on("inserted", callback, remove)

    def click_node(self, node: str, where: str = "before") -> None:
        """Click a node from code, as the browser would (tests, scripts)."""
        self._on_front_end_msg(self, {"event": "toggle", "node": node, "where": where}, [])

    def _on(self, event: str, callback: Handler, remove: bool) -> None:
        handlers = self._handlers.setdefault(event, [])
        if remove:
            handlers.remove(callback)
        else:
            handlers.append(callback)

    def _on_front_end_msg(self, _: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        event = content.get("event")
        if event in ("toggle", "run_to") and content.get("node") not in self.shape.nodes:
            return  # START, END or a name this graph does not have
        if event == "toggle":
            args: tuple[Any, ...] = (content["node"], "after" if content.get("where") == "after" else "before")
        elif event == "run_to":
            args = (content["node"],)
        elif event == "key" and content.get("action") in ("resume", "step", "stop", "live"):
            args = (content["action"],)
        elif event == "inserted":
            args = (str(content.get("how")),)
        else:
            return
        for callback in list(self._handlers.get(str(event), ())):
            callback(*args)


class BreakpointPicker(widgets.VBox):
    """Stock-widget breakpoints and "run to": for front ends without custom widgets."""

    def __init__(self, nodes: list[str], **kwargs: Any) -> None:
        layout = widgets.Layout(width="190px", height=f"{min(6, max(3, len(nodes))) * 22}px")
        self.before = widgets.SelectMultiple(options=nodes, description="", layout=layout)
        self.after = widgets.SelectMultiple(options=nodes, description="", layout=layout)
        self.target = widgets.Dropdown(options=nodes, layout=widgets.Layout(width="190px"))
        self.run_to = widgets.Button(description="Run to", icon="forward", tooltip="Resume and pause before this node")
        columns = widgets.HBox([
            widgets.VBox([widgets.HTML("<b>break before</b>"), self.before]),
            widgets.VBox([widgets.HTML("<b>break after</b>"), self.after]),
        ])
        super().__init__([columns, widgets.HBox([self.target, self.run_to])], **kwargs)
        self._handlers: list[Callable[[set[str], set[str]], None]] = []
        self._quiet = False
        self.before.observe(self._changed, "value")
        self.after.observe(self._changed, "value")

    def on_change(self, callback: Callable[[set[str], set[str]], None], remove: bool = False) -> None:
        """Call `callback(before, after)` when the selection changes."""
        if remove:
            self._handlers.remove(callback)
        else:
            self._handlers.append(callback)

    def show(self, before: set[str], after: set[str]) -> None:
        """Reflect breakpoints set elsewhere (graph clicks, code) without echoing them back."""
        self._quiet = True
        try:
            self.before.value = tuple(n for n in self.before.options if n in before)
            self.after.value = tuple(n for n in self.after.options if n in after)
        finally:
            self._quiet = False

    def _changed(self, _: Any) -> None:
        if self._quiet:
            return
        for callback in list(self._handlers):
            callback(set(self.before.value), set(self.after.value))
