"""`Debugger`: graph, state inspector, controls, events and history over a `DebugSession`.

One screen: the controls stay at the top (sticky) while the rest scrolls; the graph sits in a
fixed-height viewport beside the state, which scrolls on its own; Events and History are
under the graph. Picking a History row moves the whole UI to that step (graph, state, diff)
until "Back to live".
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from html import escape
from typing import Any

import ipywidgets as widgets
from pydantic import ValidationError

from agentflow_nb.checkpointer.base import Checkpoint
from agentflow_nb.errors import GraphError
from agentflow_nb.graph.compiled import CompiledGraph
from agentflow_nb.notebook.code import update_state_code
from agentflow_nb.notebook.fallback import fallback_bundle
from agentflow_nb.notebook.graph_view import BreakpointPicker, GraphView
from agentflow_nb.notebook.inspector import StateInspector
from agentflow_nb.notebook.panels import Controls, EventLog, HistoryView
from agentflow_nb.notebook.session import DebugSession
from agentflow_nb.notebook.status import SessionStatus
from agentflow_nb.notebook.timeline import Entry, entries, last_node_diff, path_to, position_of
from agentflow_nb.render import legend_html

__all__ = ["Debugger", "debug"]

St = SessionStatus


class Debugger(widgets.VBox):
    """The debugger UI. Every part is a thin view over `self.session`.

    Args:
        session: the session to show.
        app_name: the name of the compiled graph in the notebook, for "copy as code".
    """

    def __init__(self, session: DebugSession, *, app_name: str = "app", **kwargs: Any) -> None:
        self.session = session
        self.app_name = app_name
        self.sessions: dict[str, DebugSession] = {}
        self._bound: DebugSession | None = None
        self._notice = ""
        self._log_due = False
        self._display_id = f"agentflow-{uuid.uuid4().hex}"
        self._displayed = False
        self.drawing = session.app.draw()
        self.graph = GraphView(self.drawing)
        self.picker = BreakpointPicker(list(session.app.nodes))
        self.inspector = StateInspector(session.app.schema,
                                        layout=widgets.Layout(height="100%", overflow="hidden auto", flex="1 1 auto"))
        self.controls = Controls()
        self.events = EventLog()
        self.history = HistoryView()
        tabs = widgets.Tab([self.events, self.history, self.picker], titles=("Events", "History", "Breakpoints"))
        left = widgets.VBox([self.graph, widgets.HTML(legend_html()), tabs],
                            layout=widgets.Layout(flex="1.3 1 340px", min_width="0", margin="0 6px 0 0"))
        right = widgets.VBox([self.inspector], layout=widgets.Layout(
            flex="1 1 280px", min_width="0", height="540px", overflow="hidden auto"))
        body = widgets.HBox([left, right], layout=widgets.Layout(flex_flow="row wrap", padding="4px 6px"))
        super().__init__([self.controls, body], **kwargs)
        self.add_class("af_debugger")
        self.tabs = tabs
        self._wire()
        self._bind(session)

    def _wire(self) -> None:
        self.controls.resume.on_click(lambda _: self.resume())
        self.controls.step.on_click(lambda _: self.resume(step=True))
        self.controls.stop.on_click(lambda _: self.stop())
        self.controls.copy.on_click(lambda _: self.copy_as_code())
        self.graph.on_node_click(self._toggle)
        self.graph.on_run_to(self._run_to)
        self.graph.on_key(self._key)
        self.graph.on_inserted(self._inserted)
        self.picker.on_change(self._picked_breakpoints)
        self.picker.run_to.on_click(lambda _: self.run_to(self.picker.target.value))
        self.history.on_pick(self._preview)
        self.history.fork.on_click(lambda _: self.fork())
        self.history.live.on_click(lambda _: self.back_to_live())
        self.inspector.back.on_click(lambda _: self.back_to_live())
        self.history.threads.observe(self._switch, "value")

    def __repr__(self) -> str:
        return f"<agentflow_nb Debugger: thread {self.session.thread_id}, {self.session.status.value}>"

    # -- actions (also callable from code) -----------------------------------------------------

    @property
    def notice(self) -> str:
        """The last feedback line, as plain text."""
        return self._notice

    def resume(self, step: bool = False, to: str | None = None) -> bool:
        """Apply the inspector's edits and message, then resume (or step, or run to a node).

        False when it cannot: the reason is shown (and in `notice`) and nothing is saved.
        """
        picked = self.history.picked
        if picked is not None:
            return self._say(f"Viewing step {picked.step}: go back to live first (or Fork from here); "
                             "nothing was saved.", error=True)
        reason = self.session.status.why_not_resume(self.session.thread_id)
        if reason:
            return self._say(f"Not resumed: {reason}.", error=True)
        edits = self.inspector.collect()
        if edits is None:
            return self._say("Fix the marked fields first; nothing was saved.", error=True)
        try:
            self.session.resume(edits or None, self.inspector.pending_message(), step=step, to=to)
        except ValidationError as exc:
            loose = self.inspector.show_errors(exc)
            why = f" ({'; '.join(loose)})" if loose else ""
            return self._say(f"That edit does not fit the state's schema{why}; nothing was saved.", error=True)
        except (RuntimeError, GraphError) as exc:
            return self._say(f"Not resumed: {exc}", error=True)
        self.inspector.clear_message()
        self._say(f"Running to {to}…" if to else "")
        return True

    def step(self) -> bool:
        """Like `resume`, but pause again after one node."""
        return self.resume(step=True)

    def run_to(self, node: str) -> bool:
        """Resume and pause before `node` (breakpoints on the way still pause first)."""
        return self.resume(to=node)

    def stop(self) -> dict[str, Any]:
        """Ask the run (here or in another process) to stop at the next node boundary."""
        answer = self.session.stop()
        if not answer["ok"]:
            self._say(f"Nothing to stop: {self.session.status.why_not_stop()}.")
        return answer

    def fork(self) -> DebugSession:
        """Continue from the picked checkpoint (or the newest) on a new thread, here."""
        picked = self.history.picked
        forked = self.session.fork(picked.checkpoint_id if picked else None)
        self.history.pick(None)
        self._bind(forked)
        origin = f"step {picked.step}" if picked else "the newest step"
        self._say(f"Now debugging thread {forked.thread_id}, forked from {origin}.")
        return forked

    def back_to_live(self) -> None:
        """Leave a History preview: the graph and the state show the thread as it is now."""
        self.history.pick(None)

    def code(self) -> str:
        """`app.update_state(...)` for the pending edits, or for the shown state when none."""
        edits = self.inspector.collect() if self.inspector.dirty else {}
        if edits is None:
            raise ValueError("some edits are not valid yet (see the marked fields)")
        shown = self.history.picked or self.session.latest
        if edits:
            values = {n: self.inspector.editors[n].as_json(v) for n, v in edits.items()}
            note = "edits from the debugger"
        elif shown is not None:
            values = shown.state.model_dump(mode="json", exclude={"messages", "execution_meta"})
            note = f"the state at step {shown.step} of thread {self.session.thread_id}"
        else:
            raise ValueError(f"thread `{self.session.thread_id}` has no saved state yet")
        return update_state_code(self.app_name, self.session.thread_id, values, note)

    def copy_as_code(self) -> str | None:
        """Put `code()` into a new cell below this output (or on the clipboard); returns it."""
        try:
            text = self.code()
        except ValueError as exc:
            self._say(f"Nothing copied: {exc}.", error=True)
            return None
        self.graph.insert_cell(text)
        return text

    # -- wiring -----------------------------------------------------------------------------

    def _bind(self, session: DebugSession) -> None:
        if self._bound is not None:
            self._bound.on_change(self._changed, remove=True)
        self.sessions.setdefault(session.thread_id, session)
        self.session = self._bound = session
        session.on_change(self._changed)
        self.history.show_threads(list(self.sessions), session.thread_id)
        self._show_position()
        self.picker.show(set(session.before), set(session.after))
        self._show_status()
        self._show_log()
        self._show_saved()

    def _switch(self, change: Any) -> None:
        if change["new"] in self.sessions and change["new"] != self.session.thread_id:
            self.history.pick(None)
            self._bind(self.sessions[change["new"]])

    def _changed(self, kind: str) -> None:
        if kind in ("position", "breakpoints"):
            self._show_position()
        if kind == "breakpoints":
            self.picker.show(set(self.session.before), set(self.session.after))
        elif kind == "log":
            self._log_due = True
            if not self.session.running:  # during a run the log catches up twice a second
                self._show_log()
        elif kind == "saved" and self.history.picked is None:
            self._show_live()
        if kind in ("status", "tick", "breakpoints"):
            self._show_status()
        if kind in ("status", "tick") and self._log_due:
            self._show_log()
        if kind == "status":
            self._show_saved()
            self._publish_fallback()

    def _show_log(self) -> None:
        self._log_due = False
        self.events.show(self.session.events)

    def _show_position(self) -> None:
        if self.history.picked is None:
            self.graph.show(self.session.position)

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
        node, diff = last_node_diff([latest, *session.latest_history], latest)
        changed = dict.fromkeys(diff.changed, node or "")
        self.inspector.load(latest.state, changed, new_messages=diff.added, readonly=not session.status.can_resume,
                            banner=banner, kind="busy" if session.status is St.BUSY else "")

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
        by = {"ran": checkpoint.node or "", "edit": "your edit", "input": "the input", "start": "the input"}
        kind = entry.kind if entry else ""
        diff = entry.diff if entry else None
        changed = dict.fromkeys(diff.changed, by.get(kind, "this step")) if diff else {}
        what = f" · {escape(diff.summary())}" if diff and diff.summary() else " · nothing changed"
        head = f" · {escape(entry.checkpoint.source)}: {escape(entry.head)}" if entry else ""
        self.inspector.load(checkpoint.state, changed, new_messages=diff.added if diff else 0, readonly=True,
                            banner=f"<b>Viewing step {checkpoint.step}</b>{head}{what} · read-only", kind="viewing")
        self._show_status()

    def _toggle(self, node: str, where: str) -> None:
        on = self.session.toggle_breakpoint(node, where)
        self._say(f"Breakpoint {where} {node} {'on' if on else 'off'} (applies from the next resume).")

    def _picked_breakpoints(self, before: set[str], after: set[str]) -> None:
        for node in set(self.session.before) ^ before:
            self.session.toggle_breakpoint(node, "before")
        for node in set(self.session.after) ^ after:
            self.session.toggle_breakpoint(node, "after")

    def _run_to(self, node: str) -> None:
        self.run_to(node)

    def _key(self, action: str) -> None:
        if action == "live":
            self.back_to_live()
        elif action == "stop":
            self.stop()
        else:
            self.resume(step=action == "step")

    def _inserted(self, how: str) -> None:
        self._say({"cell": "Code put in a new cell below.",
                   "clipboard": "Code copied to the clipboard: paste it into a cell."}.get(
            how, "Could not insert the code here: use `ui.code()`."), error=how == "failed")

    def _say(self, text: str, error: bool = False) -> bool:
        self._notice = text
        self.controls.say(text, error)
        return False

    # -- a saved notebook's picture -----------------------------------------------------------

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)
        display(self.fallback(), raw=True, display_id=self._display_id)
        self._displayed = True

    def fallback(self) -> dict[str, str]:
        """The static picture of this debugger (graph + state), as a mime bundle."""
        session = self.session
        where = f" at {session.position.current}" if session.position.current else ""
        step = f", step {session.latest.step}" if session.latest is not None else ""
        text = f"thread {session.thread_id}: {session.status.value}{where}{step}"
        return fallback_bundle(self.drawing, session.position, text,
                               session.latest.state if session.latest is not None else None)

    def _publish_fallback(self) -> None:
        if self._displayed:
            from IPython.display import update_display

            update_display(self.fallback(), raw=True, display_id=self._display_id)

    def close(self) -> None:
        """Close the widgets and stop watching the store."""
        for session in self.sessions.values():
            session.close()
        super().close()


def _app_name(app: CompiledGraph) -> str:
    """The notebook variable holding `app` (for copy-as-code), else `app`."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - the notebook extras include IPython
        return "app"
    shell = get_ipython()
    names = [k for k, v in (shell.user_ns.items() if shell is not None else ()) if v is app and not k.startswith("_")]
    return names[0] if names else "app"


def debug(
    app: CompiledGraph,
    input: Mapping[str, Any] | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    before: Any = (),
    after: Any = (),
    step: bool = False,
) -> Debugger:
    """Debug `app` in the notebook and return the UI (show it as a cell's value).

    With `input` the run starts in the background at once (`{}` resumes a saved thread, or
    starts a new one from the state's defaults). Without it the debugger attaches to
    `config["thread_id"]` as saved: editable at a pause, live and read-only while another
    process runs it.

    Example:
        ui = debug(app, {"amount": 30, "messages": [Message.text_message("hi")]}, before=["PAY"])
        ui
    """
    session = DebugSession(app, input, config=config, before=before, after=after, step=step)
    return Debugger(session, app_name=_app_name(app))
