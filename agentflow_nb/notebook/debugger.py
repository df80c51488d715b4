"""`Debugger`: graph, state inspector, controls, events and history over a `DebugSession`.

One screen: the controls stay at the top (sticky) while the rest scrolls; the graph sits in a
fixed-height viewport beside the state, which scrolls on its own; Events and History are
under the graph. Picking a History row moves the whole UI to that step (graph, state, diff)
until "Back to live". In a graph with subgraphs: Step over / into / out, subgraphs drawn as
clusters that open and close, and the state as a call stack (pick a frame to see or edit it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import ipywidgets as widgets
from pydantic import ValidationError

from agentflow_nb.errors import GraphError
from agentflow_nb.graph.breakpoints import StepMode, step_mode
from agentflow_nb.graph.compiled import CompiledGraph
from agentflow_nb.notebook.code import update_state_code
from agentflow_nb.notebook.fallback import fallback_bundle
from agentflow_nb.notebook.graph_view import BreakpointPicker, GraphView
from agentflow_nb.notebook.inspector import StateInspector
from agentflow_nb.notebook.panels import Controls, EventLog, HistoryView
from agentflow_nb.notebook.session import DebugSession
from agentflow_nb.notebook.showing import DebuggerViews
from agentflow_nb.notebook.status import SessionStatus
from agentflow_nb.notebook.timeline import state_at
from agentflow_nb.render import Drawing, legend_html

__all__ = ["Debugger", "debug"]

St = SessionStatus


class Debugger(DebuggerViews, widgets.VBox):
    """The debugger UI. Every part is a thin view over `self.session`.

    Args:
        session: the session to show.
        app_name: the name of the compiled graph in the notebook, for "copy as code".
        expand: the subgraphs drawn open (paths; True: all; False: none); default: all of them
            in a graph of at most 40 nodes. A pause inside a closed subgraph opens it, unless
            it was closed by hand.
    """

    def __init__(self, session: DebugSession, *, app_name: str = "app",
                 expand: Iterable[str] | bool | None = None, **kwargs: Any) -> None:
        self.session = session
        self.app_name = app_name
        self.sessions: dict[str, DebugSession] = {}
        self._bound: DebugSession | None = None
        self._notice = ""
        self._log_due = False
        self._stack_of: str | None = None  # the checkpoint whose call stack is listed
        self._display_id = f"agentflow-{uuid.uuid4().hex}"
        self._displayed = False
        nested = bool(session.app.subgraphs)
        self.graph = GraphView(session.app.draw(expand))
        self.picker = BreakpointPicker(list(self.graph.shape.paths))
        self.inspector = StateInspector(session.app.schema,
                                        layout=widgets.Layout(height="100%", overflow="hidden auto", flex="1 1 auto"))
        self.controls = Controls(nested=nested)
        self.events = EventLog()
        self.history = HistoryView()
        tabs = widgets.Tab([self.events, self.history, self.picker], titles=("Events", "History", "Breakpoints"))
        left = widgets.VBox([self.graph, widgets.HTML(legend_html(nested=nested)), tabs],
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
        self.controls.step_into.on_click(lambda _: self.step_into())
        self.controls.step_out.on_click(lambda _: self.step_out())
        self.graph.on_fold(lambda path, open: self._publish_fallback())
        self.inspector.on_frame(self._frame_picked)
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

    def resume(self, step: bool | StepMode = False, to: str | None = None) -> bool:
        """Apply the inspector's edits (to the frame it shows) and message, then resume (or
        step: True / "over", "into", "out"; or run to a node).

        False when it cannot: the reason is shown (and in `notice`) and nothing is saved.
        """
        picked = self.history.picked
        if picked is not None:
            return self._say(f"Viewing step {picked.step}: go back to live first (or Fork from here); "
                             "nothing was saved.", error=True)
        mode = step_mode(step)
        reason = self.session.why_not_step(mode) if mode else self.session.status.why_not_resume(
            self.session.thread_id)
        if reason:
            return self._say(f"Not {'stepped' if mode else 'resumed'}: {reason}.", error=True)
        edits = self.inspector.collect()
        if edits is None:
            return self._say("Fix the marked fields first; nothing was saved.", error=True)
        try:
            self.session.resume(edits or None, self.inspector.pending_message(), step=mode or False, to=to,
                                subgraph=self.inspector.frame or None)
        except ValidationError as exc:
            loose = self.inspector.show_errors(exc)
            why = f" ({'; '.join(loose)})" if loose else ""
            return self._say(f"That edit does not fit the state's schema{why}; nothing was saved.", error=True)
        except (RuntimeError, GraphError) as exc:
            return self._say(f"Not resumed: {exc}", error=True)
        self.inspector.clear_message()
        self._say(f"Running to {to}…" if to else "")
        return True

    def step(self, mode: bool | StepMode = "over") -> bool:
        """Like `resume`, but pause again at the next step ("over": after the next node at this
        level; "into": also before a subgraph's first node; "out": after this subgraph ends)."""
        return self.resume(step=mode)

    def step_into(self) -> bool:
        """Step, going into the next node if it is a subgraph (pause before its first node)."""
        return self.resume(step="into")

    def step_out(self) -> bool:
        """Finish the subgraph the run is in, and pause in its parent."""
        return self.resume(step="out")

    @property
    def drawing(self) -> Drawing:
        """The graph's drawing as shown (which subgraphs are open)."""
        return self.graph.drawing

    def expand(self, path: str, open: bool = True) -> None:
        """Draw the subgraph at `path` open (its nodes in a cluster) or closed (one node), as
        its +/− button does."""
        self.graph.fold(path, open)
        self._publish_fallback()

    def collapse(self, path: str) -> None:
        """Draw the subgraph at `path` as one node."""
        self.expand(path, False)

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
        frame = self.inspector.frame
        state = state_at(shown, frame) if shown is not None else None
        where = f" in {frame}" if frame else ""
        if edits:
            values = {n: self.inspector.editors[n].as_json(v) for n, v in edits.items()}
            note = "edits from the debugger" + where
        elif state is not None:
            values = state.model_dump(mode="json", exclude={"messages", "execution_meta"})
            note = f"the state{where} at step {shown.step} of thread {self.session.thread_id}"  # type: ignore[union-attr]
        else:
            raise ValueError(f"thread `{self.session.thread_id}` has no saved state yet")
        return update_state_code(self.app_name, self.session.thread_id, values, note, subgraph=frame or None)

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
        elif action in ("step", "into", "out"):
            self.resume(step="over" if action == "step" else action)  # type: ignore[arg-type]
        else:
            self.resume()

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
        latest = session.latest
        return fallback_bundle(self.drawing, session.position, text, latest.state if latest is not None else None,
                               frames=[(f.path, f.state) for f in latest.frames] if latest is not None else ())

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
    expand: Iterable[str] | bool | None = None,
) -> Debugger:
    """Debug `app` in the notebook and return the UI (show it as a cell's value).

    With `input` the run starts in the background at once (`{}` resumes a saved thread, or
    starts a new one from the state's defaults). Without it the debugger attaches to
    `config["thread_id"]` as saved: editable at a pause, live and read-only while another
    process runs it. `expand` says which subgraphs are drawn open (see `Debugger`).

    Example:
        ui = debug(app, {"amount": 30, "messages": [Message.text_message("hi")]}, before=["PAY"])
        ui
    """
    session = DebugSession(app, input, config=config, before=before, after=after, step=step)
    return Debugger(session, app_name=_app_name(app), expand=expand)
