"""The live graph: an anywidget that gets the SVG once, then only the run position.

Click a node to toggle a breakpoint before it; shift+click for one after it. Where custom
widgets do not load, `BreakpointPicker` (stock ipywidgets) does the same job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import ipywidgets as widgets
import traitlets

from agentflow_nb.render import BASE_CSS, Drawing, Position
from agentflow_nb.render.shape import GraphShape

__all__ = ["BreakpointPicker", "GraphView"]

_ESM = r"""
const MARKS = ["af_visited", "af_running", "af_before", "af_after", "af_done", "af_stopped",
               "af_error", "af_bp_before", "af_bp_after", "af_taken"];

function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "af_graph";
  el.appendChild(box);
  const find = (id) => (id ? box.querySelector("#" + CSS.escape(id)) : null);
  const paint = () => {
    box.querySelectorAll("." + MARKS.join(",.")).forEach((e) => e.classList.remove(...MARKS));
    const ids = model.get("node_ids");
    const mark = (name, css) => find(ids[name])?.classList.add(css);
    for (const name of model.get("visited")) mark(name, "af_visited");
    for (const name of model.get("before")) mark(name, "af_bp_before");
    for (const name of model.get("after")) mark(name, "af_bp_after");
    const current = model.get("current"), phase = model.get("phase");
    if (current && phase) mark(current, "af_" + phase);
    find(model.get("edge_id"))?.classList.add("af_taken");
    box.dataset.current = current || "";
    box.dataset.phase = phase || "";
  };
  const draw = () => {
    box.innerHTML = model.get("svg");
    for (const [name, id] of Object.entries(model.get("node_ids"))) {
      const node = find(id);
      if (!node || name.startsWith("__")) continue;
      node.addEventListener("click", (event) => {
        model.send({ event: "toggle", node: name, where: event.shiftKey ? "after" : "before" });
      });
    }
    paint();
  };
  model.on("change:svg", draw);
  for (const name of ["current", "phase", "visited", "before", "after", "edge_id"]) {
    model.on("change:" + name, paint);
  }
  draw();
}
export default { render };
"""


class GraphView(anywidget.AnyWidget):
    """The graph with the run's position painted on. Only small traits change per step."""

    _esm = traitlets.Unicode(_ESM).tag(sync=True)
    _css = traitlets.Unicode(BASE_CSS + ".af_graph svg { max-width: 100%; height: auto; }").tag(sync=True)
    svg = traitlets.Unicode("", help="The laid-out SVG; sent once per graph shape.").tag(sync=True)
    node_ids = traitlets.Dict(help="Node name -> SVG element id.").tag(sync=True)
    current = traitlets.Unicode("", help="The node the run is at.").tag(sync=True)
    phase = traitlets.Unicode("", help="before, after, running, done, stopped or error.").tag(sync=True)
    visited = traitlets.List(traitlets.Unicode(), help="Nodes run in this run.").tag(sync=True)
    before = traitlets.List(traitlets.Unicode(), help="Nodes with a breakpoint before.").tag(sync=True)
    after = traitlets.List(traitlets.Unicode(), help="Nodes with a breakpoint after.").tag(sync=True)
    edge_id = traitlets.Unicode("", help="SVG id of the edge just taken.").tag(sync=True)

    def __init__(self, drawing: Drawing, **kwargs: Any) -> None:
        super().__init__(svg=drawing.svg, node_ids=drawing.shape.node_ids(), **kwargs)
        self.shape: GraphShape = drawing.shape
        self._click_handlers: list[Callable[[str, str], None]] = []
        self.on_msg(self._on_front_end_msg)

    def show(self, position: Position) -> None:
        """Move the painted position (a few small trait updates, no re-layout)."""
        edge = self.shape.edge_id(*position.edge) if position.edge else None
        with self.hold_sync():
            self.current = position.current or ""
            self.phase = position.phase or ""
            self.visited = sorted(position.visited)
            self.before = sorted(position.before)
            self.after = sorted(position.after)
            self.edge_id = edge or ""

    def on_node_click(self, callback: Callable[[str, str], None], remove: bool = False) -> None:
        """Call `callback(node, where)` when a node is clicked (`where`: before or after)."""
        if remove:
            self._click_handlers.remove(callback)
        else:
            self._click_handlers.append(callback)

    def click_node(self, node: str, where: str = "before") -> None:
        """Click a node from code, as the browser would (tests, scripts)."""
        self._on_front_end_msg(self, {"event": "toggle", "node": node, "where": where}, [])

    def _on_front_end_msg(self, _: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        if content.get("event") == "toggle" and content.get("node") in self.shape.nodes:
            for callback in list(self._click_handlers):
                callback(content["node"], "after" if content.get("where") == "after" else "before")


class BreakpointPicker(widgets.VBox):
    """Stock-widget breakpoints: two multi-selects, for front ends without custom widgets."""

    def __init__(self, nodes: list[str], **kwargs: Any) -> None:
        layout = widgets.Layout(width="170px", height=f"{min(8, max(3, len(nodes))) * 22}px")
        self.before = widgets.SelectMultiple(options=nodes, description="", layout=layout)
        self.after = widgets.SelectMultiple(options=nodes, description="", layout=layout)
        columns = widgets.HBox([
            widgets.VBox([widgets.HTML("<b>break before</b>"), self.before]),
            widgets.VBox([widgets.HTML("<b>break after</b>"), self.after]),
        ])
        super().__init__([columns], **kwargs)
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
