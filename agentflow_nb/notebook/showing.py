"""What the debugger shows, and where from: the live thread or a step picked in History.

The half of `Debugger` that turns the session's state into its views (a mixin: the debugger
holds the widgets): the graph's position, the status line, the event log, the history list,
and the state inspector with its call stack.
"""

from __future__ import annotations

import time
from dataclasses import replace
from html import escape
from typing import TYPE_CHECKING

from agentflow_nb.checkpointer.base import Checkpoint
from agentflow_nb.notebook.stack import stack_rows
from agentflow_nb.notebook.status import SessionStatus
from agentflow_nb.notebook.timeline import Entry, entries, last_node_diff, path_to, position_of, state_at

if TYPE_CHECKING:
    from agentflow_nb.notebook.graph_view import GraphView
    from agentflow_nb.notebook.inspector import StateInspector
    from agentflow_nb.notebook.panels import Controls, EventLog, HistoryView
    from agentflow_nb.notebook.session import DebugSession

__all__ = ["DebuggerViews"]

St = SessionStatus


class DebuggerViews:
    """Showing the session in the debugger's widgets (the `Debugger` provides them)."""

    session: DebugSession
    app_name: str
    graph: GraphView
    inspector: StateInspector
    controls: Controls
    events: EventLog
    history: HistoryView
    _log_due: bool
    _stack_of: str | None
    if TYPE_CHECKING:  # provided by Debugger
        def _say(self, text: str, error: bool = False) -> bool: ...

    def _show_log(self) -> None:
        self._log_due = False
        self.events.show(self.session.events)

    def _show_position(self) -> None:
        if self.history.picked is None:
            position = self.session.position
            self.graph.show(position)
            if position.current and not self.session.running:  # a pause inside a closed subgraph opens it
                self.graph.reveal(position.current)

    def _show_status(self) -> None:
        session = self.session
        latest, position = session.latest, session.position
        detail = ""
        if session.error is not None:
            detail = f"{type(session.error).__name__}: {session.error}"
        elif latest is not None and session.status is St.PAUSED:
            detail = latest.state.execution_meta.interrupt_reason or ""
        node_elapsed = None
        if session.status.running and session.node_started_at is not None:
            node_elapsed = time.monotonic() - session.node_started_at
        picked = self.history.picked
        self.controls.show(
            thread=session.thread_id, status=session.status, step=latest.step if latest is not None else None,
            node=position.current, phase=position.phase, elapsed=session.elapsed, node_elapsed=node_elapsed,
            detail=detail, viewing=picked.step if picked is not None else None,
            why_out=session.why_not_step("out") if self.controls.nested else "",
        )

    def _show_saved(self) -> None:
        """After a run settles: the history list and, unless a step is previewed, the live state."""
        keep = self.history.picker.value
        self.history.show(entries(self.session.latest_history), keep=keep)
        if self.history.picked is None:
            self._show_live()

    def _show_live(self) -> None:
        session = self.session
        latest = session.latest
        banner = session.status.banner
        if latest is None:
            self.inspector.set_readonly(True)
            self.inspector.show_banner(banner, "busy" if session.status is St.BUSY else "")
            return
        frame = self._show_stack(latest)
        node, diff = last_node_diff([latest, *session.latest_history], latest, frame)
        changed = dict.fromkeys(diff.changed, node or "")
        self.inspector.load(state_at(latest, frame) or latest.state, changed, new_messages=diff.added,
                            readonly=not session.status.can_resume, banner=banner,
                            kind="busy" if session.status is St.BUSY else "")

    def _show_stack(self, checkpoint: Checkpoint) -> str:
        """List `checkpoint`'s call stack in the inspector; the frame to show: the one picked,
        while the same checkpoint is shown, else the innermost (where the run stands)."""
        keep = self.inspector.frame if self._stack_of == checkpoint.checkpoint_id else None
        self._stack_of = checkpoint.checkpoint_id
        rows = stack_rows(checkpoint, self.app_name)
        self.inspector.show_stack(rows, keep if keep is not None else rows[0][1])
        return self.inspector.frame

    def _frame_picked(self, path: str) -> None:
        picked = self.history.picked
        if picked is not None:
            self._preview(picked)
        else:
            self._show_live()

    def _preview(self, checkpoint: Checkpoint | None) -> None:
        if checkpoint is None:
            self._show_position()
            self._show_live()
            self._show_status()
            self._say("")
            return
        entry: Entry | None = self.history.picked_entry
        history = self.session.latest_history
        position = position_of(checkpoint, path_to(history, checkpoint))
        self.graph.show(replace(position, before=frozenset(self.session.before), after=frozenset(self.session.after)))
        if position.current:
            self.graph.reveal(position.current)
        frame = self._show_stack(checkpoint)
        by = {"ran": checkpoint.node or "", "edit": "your edit", "input": "the input", "start": "the input"}
        kind = entry.kind if entry else ""
        diff = entry.diff_at(frame) if entry else None
        changed = dict.fromkeys(diff.changed, by.get(kind, "this step")) if diff else {}
        said = entry.label.partition(f"{entry.head}")[2].lstrip(" ·") if entry else ""
        what = f" · {escape(said)}" if said else " · nothing changed"
        head = f" · {escape(entry.checkpoint.source)}: {escape(entry.head)}" if entry else ""
        self.inspector.load(state_at(checkpoint, frame) or checkpoint.state, changed,
                            new_messages=diff.added if diff else 0, readonly=True,
                            banner=f"<b>Viewing step {checkpoint.step}</b>{head}{what} · read-only", kind="viewing")
        self._show_status()
