"""`Debugger`: graph view, state inspector, controls, event log and history over a session."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import ipywidgets as widgets
from pydantic import ValidationError

from agentflow_nb.checkpointer.base import Checkpoint
from agentflow_nb.graph.compiled import CompiledGraph
from agentflow_nb.notebook.controls import Controls, EventLog, HistoryView
from agentflow_nb.notebook.graph_view import BreakpointPicker, GraphView
from agentflow_nb.notebook.inspector import StateInspector
from agentflow_nb.notebook.session import DebugSession, position_of
from agentflow_nb.render import legend_html

__all__ = ["Debugger", "debug"]


class Debugger(widgets.VBox):
    """The debugger UI. Every part is a thin view over `self.session`."""

    def __init__(self, session: DebugSession, **kwargs: Any) -> None:
        self.session = session
        self._bound: DebugSession | None = None
        self.graph = GraphView(session.app.draw())
        self.picker = BreakpointPicker(list(session.app.nodes))
        self.inspector = StateInspector(session.app.schema)
        self.controls = Controls()
        self.events = EventLog()
        self.history = HistoryView()
        self.notice = widgets.HTML()
        fallback = widgets.Accordion([self.picker], titles=("Breakpoints (if clicking the graph does nothing)",))
        fallback.selected_index = None
        tabs = widgets.Tab([self.events, self.history], titles=("Events", "History"))
        left = widgets.VBox([self.graph, widgets.HTML(legend_html()), fallback],
                            layout=widgets.Layout(width="45%", min_width="260px"))
        right = widgets.VBox([self.controls, self.notice, self.inspector],
                             layout=widgets.Layout(width="55%"))
        super().__init__([widgets.HBox([left, right]), tabs], **kwargs)
        self.add_class("af_debugger")
        self.controls.resume.on_click(lambda _: self.resume())
        self.controls.step.on_click(lambda _: self.resume(step=True))
        self.controls.stop.on_click(lambda _: self.stop())
        self.graph.on_node_click(self._toggle)
        self.picker.on_change(self._picked_breakpoints)
        self.history.on_pick(self._preview)
        self.history.fork.on_click(lambda _: self.fork())
        self.history.live.on_click(lambda _: self.history.pick(None))
        self._bind(session)

    # -- actions (also callable from code) -----------------------------------------------------

    def resume(self, step: bool = False) -> bool:
        """Apply the inspector's edits and message, then resume (or step). False if an edit
        is invalid: its error is shown and nothing is saved."""
        edits = self.inspector.collect()
        if edits is None:
            self._say("Fix the marked fields first; nothing was saved.", error=True)
            return False
        message = self.inspector.pending_message()
        try:
            self.session.resume(edits or None, message, step=step)
        except ValidationError as exc:
            self.inspector.show_errors(exc)
            self._say("That edit does not fit the state's schema; nothing was saved.", error=True)
            return False
        except RuntimeError as exc:
            self._say(str(exc), error=True)
            return False
        self.inspector.clear_message()
        self._say("")
        return True

    def stop(self) -> dict[str, Any]:
        """Ask the run to stop at the next node boundary."""
        return self.session.stop()

    def fork(self) -> DebugSession:
        """Continue from the picked checkpoint (or the newest) on a new thread, here."""
        picked = self.history.picked
        forked = self.session.fork(picked.checkpoint_id if picked else None)
        self._bind(forked)
        origin = f"step {picked.step}" if picked else "the newest step"
        self._say(f"Now debugging thread {forked.thread_id}, forked from {origin}.")
        return forked

    # -- wiring -----------------------------------------------------------------------------

    def _bind(self, session: DebugSession) -> None:
        if self._bound is not None:
            self._bound.on_change(self._changed, remove=True)
        self.session = self._bound = session
        session.on_change(self._changed)
        self._show_all()

    def _changed(self, kind: str) -> None:
        if kind in ("position", "breakpoints"):
            self._show_position()
        if kind in ("status", "tick"):
            self._show_status()
        if kind == "log":
            self.events.show(self.session.log)
        if kind == "status" and not self.session.running:
            self._show_saved()

    def _show_all(self) -> None:
        self._show_position()
        self._show_status()
        self.events.show(self.session.log)
        self._show_saved()

    def _show_position(self) -> None:
        if self.history.picked is None:
            self.graph.show(self.session.position)
        self.picker.show(set(self.session.before), set(self.session.after))

    def _show_status(self) -> None:
        session = self.session
        latest = session.latest
        position = session.position
        detail = ""
        if session.error is not None:
            detail = f"{type(session.error).__name__}: {session.error}"
        elif latest is not None and latest.state.execution_meta.interrupt_reason and session.status == "paused":
            detail = latest.state.execution_meta.interrupt_reason
        self.controls.show(
            thread=session.thread_id, status=session.status,
            step=latest.step if latest is not None else None, node=position.current,
            phase=position.phase, elapsed=session.elapsed, detail=detail,
        )

    def _show_saved(self) -> None:
        latest = self.session.latest
        if latest is not None:
            self.inspector.load(latest.state, self.session.latest_changed)
        self.history.show(self.session.latest_history)

    def _toggle(self, node: str, where: str) -> None:
        on = self.session.toggle_breakpoint(node, where)
        self._say(f"Breakpoint {where} {node} {'on' if on else 'off'} (from the next resume).")

    def _picked_breakpoints(self, before: set[str], after: set[str]) -> None:
        for node in set(self.session.before) ^ before:
            self.session.toggle_breakpoint(node, "before")
        for node in set(self.session.after) ^ after:
            self.session.toggle_breakpoint(node, "after")

    def _preview(self, checkpoint: Checkpoint | None) -> None:
        if checkpoint is None:
            self.graph.show(self.session.position)
            return
        steps = [c for c in self.session.latest_history if c.step <= checkpoint.step and c.node]
        visited = frozenset(c.node for c in steps if c.node and c.status.value != "interrupted_before")
        position = position_of(checkpoint, visited)
        self.graph.show(replace(position, before=frozenset(self.session.before),
                                after=frozenset(self.session.after)))

    def _say(self, text: str, error: bool = False) -> None:
        color = "#c62828" if error else "#37474f"
        self.notice.value = f'<span style="color:{color};font-size:12px">{text}</span>' if text else ""


def debug(
    app: CompiledGraph,
    input: Mapping[str, Any] | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    before: Any = (),
    after: Any = (),
    step: bool = False,
) -> Debugger:
    """Debug `app` in the notebook: starts the run in the background and returns the UI.

    Example:
        debug(app, {"messages": [Message.text_message("hi")]}, before=["EXECUTE_ACTION"])
    """
    session = DebugSession(app, input, config=config, before=before, after=after, step=step)
    return Debugger(session)
