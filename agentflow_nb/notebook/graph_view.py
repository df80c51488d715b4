"""The live graph: an anywidget that gets the SVG once per shape, then only the CSS classes of a
position.

Click a node to toggle a breakpoint before it; shift+click for one after it; right-click for
"run to here". Nodes inside subgraphs work alike, by path (`"WRITER/REVIEW"`). A subgraph is a
cluster with a − button to close it into one node, which has a + button to open it again (also
in the right-click menu); each open/closed combination is a shape, laid out once. Drag to pan,
ctrl+wheel to zoom; fit and follow buttons; a minimap when the graph is larger than its
viewport. Where custom widgets do not load, `BreakpointPicker` (stock ipywidgets) sets
breakpoints and runs to a node.
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

__all__ = ["KEY_ACTIONS", "BreakpointPicker", "GraphView"]

_STATIC = Path(__file__).with_name("static")
#: The whole debugger's stylesheet rides on the graph widget (anywidget puts it in the page).
CSS = BASE_CSS + LEGEND_CSS + (_STATIC / "debugger.css").read_text(encoding="utf-8")
Handler = Callable[..., None]
#: What the widget's keys ask for (`graph.js`): resume, step over, step into, step out, stop, back to live.
KEY_ACTIONS = ("resume", "step", "into", "out", "stop", "live")


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
    subgraphs = traitlets.Dict(help="Drawn subgraph path -> {id, open}: where the +/− buttons go.").tag(sync=True)

    def __init__(self, drawing: Drawing, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._handlers: dict[str, list[Handler]] = {}
        self._drawings: dict[frozenset[str], Drawing] = {}
        #: Subgraphs the user closed: a pause inside one does not open it again.
        self.closed_by_hand: set[str] = set()
        self.position = Position()
        self.use(drawing)
        self.on_msg(self._on_front_end_msg)

    @property
    def expanded(self) -> frozenset[str]:
        """The subgraphs drawn open (paths)."""
        return self.shape.expanded

    def fold(self, path: str, open: bool) -> None:
        """Open (or close) the subgraph at `path`: the graph's shape for that, laid out once
        and kept, with the position painted on it.

        Raises:
            GraphError: `path` is not a subgraph node (with a did-you-mean).
        """
        if open:
            self.closed_by_hand.discard(path)
        else:
            self.closed_by_hand.add(path)
        drawing = self.drawing.expand(path, open)
        self.use(self._drawings.setdefault(drawing.shape.expanded, drawing))

    def reveal(self, path: str) -> None:
        """Open the subgraphs around `path` so it is drawn itself, except those closed by hand."""
        drawing = self.drawing
        shown = drawing.shape.visible(path)
        while shown != path and shown not in self.closed_by_hand:
            drawing = drawing.expand(shown)
            shown = drawing.shape.visible(path)
        if drawing is not self.drawing:
            self.use(self._drawings.setdefault(drawing.shape.expanded, drawing))

    def use(self, drawing: Drawing) -> None:
        """Show another shape of the graph (a subgraph opened or closed): the new SVG, and the
        position painted on it."""
        self._drawings.setdefault(drawing.shape.expanded, drawing)
        self.drawing = drawing
        self.shape: GraphShape = drawing.shape
        self._ids = drawing.shape.element_ids
        shape = drawing.shape
        self._paths = frozenset(shape.paths)  # every node that can take a breakpoint, at any depth
        with self.hold_sync():
            self.svg = drawing.svg
            self.node_ids = shape.node_ids()
            self.subgraphs = {path: {"id": shape.node_id(path), "open": shape.is_open(path)}
                              for path in shape.subgraph_paths if shape.shown(path)}
            self.show(self.position)

    def show(self, position: Position) -> None:
        """Move the painted position (a few small trait updates, no re-layout)."""
        self.position = position
        with self.hold_sync():
            self.marks = self.drawing.classes(position)
            self.current = position.current or ""
            self.phase = position.phase or ""
            self.focus = self._ids.get(self.shape.visible(position.current or ""), "")
            self.before = sorted(position.before)
            self.after = sorted(position.after)

    @property
    def edge_id(self) -> str:
        """The SVG id of the (last) arrow just taken ("" if none)."""
        edge = self.position.edge
        arrows = self.shape.transition(*edge) if edge else ()
        return arrows[-1] if arrows else ""

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
        """Call `callback(action)` for a keyboard shortcut: resume, step (over), into, out, stop
        or live."""
        self._on("key", callback, remove)

    def on_fold(self, callback: Callable[[str, bool], None], remove: bool = False) -> None:
        """Call `callback(path, open)` after a subgraph's +/− button (or menu item) opened or
        closed it."""
        self._on("fold", callback, remove)

    def on_inserted(self, callback: Callable[[str], None], remove: bool = False) -> None:
        """Call `callback(how)` once copied code landed: cell, clipboard or failed."""
        self._on("inserted", callback, remove)

    def click_node(self, node: str, where: str = "before") -> None:
        """Click a node from code, as the browser would (tests, scripts)."""
        self._on_front_end_msg(self, {"event": "toggle", "node": node, "where": where}, [])

    def click_fold(self, path: str) -> None:
        """Click a subgraph's +/− button from code, as the browser would."""
        self._on_front_end_msg(self, {"event": "fold", "path": path, "open": not self.shape.is_open(path)}, [])

    def _on(self, event: str, callback: Handler, remove: bool) -> None:
        handlers = self._handlers.setdefault(event, [])
        if remove:
            handlers.remove(callback)
        else:
            handlers.append(callback)

    def _on_front_end_msg(self, _: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        event = content.get("event")
        if event in ("toggle", "run_to") and content.get("node") not in self._paths:
            return  # START, END or a name this graph does not have
        if event == "toggle":
            args: tuple[Any, ...] = (content["node"], "after" if content.get("where") == "after" else "before")
        elif event == "run_to":
            args = (content["node"],)
        elif event == "fold" and content.get("path") in self.shape.subgraph_paths:
            self.fold(content["path"], bool(content.get("open")))
            args = (content["path"], bool(content.get("open")))
        elif event == "key" and content.get("action") in KEY_ACTIONS:
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
