"""`DebugSession`: drives one thread through the engine's stepping loop, in the background.

The session is the controller the widgets and the magic sit on, and it is scriptable:
`session.resume(edits=...)`, `.step()`, `.stop()`, `.run_to(node)`, `.state`, `.history`,
`.wait()`. Runs go on the engine's background loop (`agentflow_nb.run_in_background`), so a
notebook cell returns at once and the kernel stays free to handle clicks. It uses only the
engine's public API, so it works the same for any checkpointer.

A session can also *attach* to a thread another process runs (a worker sharing a
`FileCheckpointer` folder or a database): it is then shown live and read-only, by polling the
store, and never taken over; Stop reaches that run; once it pauses, the session can edit and
resume it here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from agentflow_nb.checkpointer.base import Checkpoint
from agentflow_nb.errors import ThreadBusyError
from agentflow_nb.graph.breakpoints import Condition
from agentflow_nb.graph.compiled import CompiledGraph
from agentflow_nb.notebook.events import EventEntry
from agentflow_nb.notebook.running import SessionRuns
from agentflow_nb.notebook.status import SessionStatus
from agentflow_nb.notebook.timeline import path_to, position_of
from agentflow_nb.render.shape import Position
from agentflow_nb.state import AgentState, Message

__all__ = ["DebugSession"]

Listener = Callable[[str], None]
HISTORY_LIMIT = 200
POLL_SECONDS = 1.0
St = SessionStatus


class DebugSession(SessionRuns):
    """One thread under the debugger.

    Args:
        app: the compiled graph.
        input: input of the first run. None attaches to the thread as saved (live and
            read-only while another process runs it). `{}` resumes a saved thread; on a thread
            with nothing saved it starts a run from the state's defaults.
        config: run config; `thread_id` defaults to a fresh `debug-...` id.
        before / after: breakpoints for this session (node names, or node -> condition);
            the graph's own `interrupt_before` / `interrupt_after` are included.
        step: pause after the first node.
        start: start the first run now (default: when `input` is given).
        poll: seconds between looks at the store while attached to a thread run elsewhere.

    Raises:
        GraphError: a breakpoint names no node (with a did-you-mean).
    """

    def __init__(
        self,
        app: CompiledGraph,
        input: Mapping[str, Any] | None = None,
        *,
        config: Mapping[str, Any] | None = None,
        before: Any = (),
        after: Any = (),
        step: bool = False,
        start: bool | None = None,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.app = app
        self.config = dict(config or {})
        self.config.setdefault("thread_id", f"debug-{uuid.uuid4().hex[:6]}")
        self.before: dict[str, Condition | None] = dict.fromkeys(app.interrupt_before)
        self.after: dict[str, Condition | None] = dict.fromkeys(app.interrupt_after)
        points = app.check_breakpoints(_as_points(before), _as_points(after))
        self.before.update(points.before)
        self.after.update(points.after)
        self.poll = poll
        self.status = St.NEW
        self.error: BaseException | None = None
        self.events: list[EventEntry] = []
        self.position = Position()
        self.path: list[str] = []
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.node_started_at: float | None = None
        self.stop_asked_at: float | None = None
        self.latest: Checkpoint | None = None
        self.latest_history: list[Checkpoint] = []
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._future: concurrent.futures.Future[Any] | None = None
        self._watcher: concurrent.futures.Future[Any] | None = None
        self._dirty = False
        self._closed = False
        self._runs = 0
        self.refresh()
        if start is None:
            start = input is not None
        if start:
            value = dict(input or {})
            if not value and self.latest is None:  # `{}` on a new thread: start from the defaults
                value = {"messages": []}
            self._start(value, step=step)
        elif self.latest is not None and app.is_running(self.config):
            self._follow()

    # -- properties -----------------------------------------------------------------------

    @property
    def thread_id(self) -> str:
        """The thread this session drives."""
        return str(self.config["thread_id"])

    @property
    def running(self) -> bool:
        """True while a run holds the thread, here or elsewhere."""
        return self.status.running

    @property
    def checkpoint(self) -> Checkpoint | None:
        """The thread's newest checkpoint, read from the store now."""
        return self.app.get_state(self._thread_config)

    @property
    def state(self) -> AgentState | None:
        """The thread's newest saved state (a fresh copy)."""
        checkpoint = self.checkpoint
        return checkpoint.state if checkpoint is not None else None

    @property
    def history(self) -> list[Checkpoint]:
        """The thread's checkpoints, newest first, read from the store now."""
        return self.app.get_state_history(self._thread_config)

    @property
    def log(self) -> list[str]:
        """The event log as text lines, oldest first."""
        return [str(entry) for entry in self.events]

    @property
    def elapsed(self) -> float:
        """Seconds the current (or last) run has taken."""
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.monotonic()) - self.started_at

    @property
    def _thread_config(self) -> dict[str, Any]:
        return {"thread_id": self.thread_id}

    # -- listening ------------------------------------------------------------------------

    def on_change(self, callback: Listener, remove: bool = False) -> None:
        """Call `callback(kind)` on changes: "position", "log", "status", "breakpoints",
        "saved" (newer checkpoints were read) and "tick" (twice a second during a run).

        Callbacks run on the engine's loop thread during runs; widgets update traits there.
        """
        if remove:
            self._listeners.remove(callback)
        else:
            self._listeners.append(callback)

    def _notify(self, kind: str) -> None:
        for callback in list(self._listeners):
            try:
                callback(kind)
            except Exception as exc:  # noqa: BLE001 - a broken view must not break the run
                self._log("error", f"view error: {type(exc).__name__}: {exc}", notify=False)

    def _log(self, kind: str, text: str, *, step: int | None = None, node: str | None = None,
             notify: bool = True) -> None:
        if step is None:
            step = self.latest.step if self.latest is not None else 0
        with self._lock:
            self.events.append(EventEntry(time.time(), step, kind, node, text))
            del self.events[:-500]
        if notify:
            self._notify("log")

    def _set_status(self, status: SessionStatus) -> None:
        self.status = status
        self._notify("status")

    # -- controlling ----------------------------------------------------------------------

    def check_can_resume(self) -> None:
        """Raise RuntimeError saying why the thread cannot go on now (nothing changes)."""
        reason = self.status.why_not_resume(self.thread_id)
        if reason:
            raise RuntimeError(reason)

    def resume(
        self,
        edits: Mapping[str, Any] | None = None,
        message: Message | tuple[str, str] | str | None = None,
        *,
        step: bool = False,
        to: str | None = None,
    ) -> DebugSession:
        """Apply `edits` (validated, saved as one "edit" checkpoint), then run on in the background.

        `message` (a `Message`, `(role, text)` or a user text) goes in with the resume; `to`
        names a node to run to (a one-off breakpoint before it; the others still apply).

        Raises:
            pydantic.ValidationError: an edit does not fit the schema; nothing was saved.
            RuntimeError: the thread cannot go on now (running, completed, ...): the message
                says why; nothing was saved.
            GraphError: `to` is not a node.
        """
        self.check_can_resume()
        extra = dict(self.app.check_breakpoints([to]).before) if to is not None else {}
        if edits:
            try:
                self.app.update_state(self._thread_config, edits)
            except ThreadBusyError as exc:
                self._follow()
                raise RuntimeError(str(exc)) from None
            self._log("edit", f"edited {', '.join(edits)}")
        value: dict[str, Any] = {}
        if message:
            value["messages"] = [_message(message)]
        self._start(value, step=step, extra_before=extra)
        return self

    def step(
        self, edits: Mapping[str, Any] | None = None, message: Message | tuple[str, str] | str | None = None
    ) -> DebugSession:
        """Like `resume`, but pause again after one node."""
        return self.resume(edits, message, step=True)

    def run_to(self, node: str, edits: Mapping[str, Any] | None = None) -> DebugSession:
        """Resume, and pause before `node` (breakpoints met on the way still pause first)."""
        return self.resume(edits, to=node)

    def stop(self) -> dict[str, Any]:
        """Ask the running node to be the last; the run stops at the next node boundary.

        Works on a run in another process too (through the store). Returns the engine's
        answer, `{"status": "stop_requested" | "not_running" | "unknown_thread", ...}`.
        """
        status = self.app.stop(self._thread_config)
        if status["ok"]:
            self.stop_asked_at = time.monotonic()
            self.position = _replace(self.position, phase="stopping") if self.position.phase == "running" \
                else self.position
            self._log("control", "stop requested: the node in flight finishes first")
            if self.status in (St.RUNNING, St.BUSY):
                self._set_status(St.STOPPING)
            self._notify("position")
        else:
            self._log("control", f"stop: {status['status'].replace('_', ' ')}")
        return status

    def wait(self, timeout: float | None = 30) -> SessionStatus:
        """Block until the current run pauses or ends (for scripts and tests, not notebook cells
        that should stay interactive); returns the status."""
        future = self._future
        if future is not None:
            try:
                future.result(timeout)
            except concurrent.futures.TimeoutError:
                raise TimeoutError(f"thread `{self.thread_id}` still running after {timeout}s") from None
        return self.status

    async def wait_async(self) -> SessionStatus:
        """Await the current run's pause or end."""
        if self._future is not None:
            await asyncio.wrap_future(self._future)
        return self.status

    def __await__(self) -> Any:
        return self.wait_async().__await__()

    def fork(self, checkpoint_id: str | None = None, new_thread_id: str | None = None) -> DebugSession:
        """A new session on a new thread copied from a checkpoint (default: the newest)."""
        config = dict(self._thread_config)
        if checkpoint_id is not None:
            config["checkpoint_id"] = checkpoint_id
        forked = self.app.fork(config, new_thread_id)
        self._log("control", f"forked into thread {forked['thread_id']}")
        session_config = {k: v for k, v in self.config.items() if k != "checkpoint_id"}
        session_config["thread_id"] = forked["thread_id"]
        return DebugSession(self.app, config=session_config, before=self.before, after=self.after,
                            start=False, poll=self.poll)

    def toggle_breakpoint(self, node: str, where: str = "before") -> bool:
        """Switch a breakpoint on or off; True if it is now on. Applies from the next run."""
        points = self._points(where, node)
        if node in points:
            del points[node]
        else:
            points[node] = None
        self._breakpoints_changed()
        return node in points

    def set_breakpoint(self, node: str, where: str = "before", condition: Condition | None = None) -> None:
        """Break at `node` (only when `condition(state)` holds, if given)."""
        self._points(where, node)[node] = condition
        self._breakpoints_changed()

    def _points(self, where: str, node: str) -> dict[str, Condition | None]:
        if where not in ("before", "after"):
            raise ValueError(f"`where` is `before` or `after`, not `{where}`")
        self.app.check_breakpoints([node])
        return self.before if where == "before" else self.after

    def _breakpoints_changed(self) -> None:
        self.position = _replace(self.position, before=frozenset(self.before), after=frozenset(self.after))
        self._notify("breakpoints")

    def close(self) -> None:
        """Stop watching the store (a run in flight goes on)."""
        self._closed = True
        if self._watcher is not None:
            self._watcher.cancel()

    # -- reading the store ----------------------------------------------------------------

    def refresh(self) -> None:
        """Read status, position and history from the saved thread (after attaching, a fork)."""
        self._loaded(self.app.get_state_history(self._thread_config, limit=HISTORY_LIMIT))

    async def _arefresh(self) -> None:
        self._loaded(await self.app.aget_state_history(self._thread_config, limit=HISTORY_LIMIT))

    def _loaded(self, history: list[Checkpoint]) -> None:
        """Take a freshly read history; views read `latest` and `latest_history`."""
        self.latest_history = history
        self.latest = history[0] if history else None
        if self.latest is not None and not self.status.running:
            self.status = St.of(self.latest.status)
            self.path = path_to(history, self.latest)
            self.position = self._with_breakpoints(position_of(self.latest, self.path))

    def _with_breakpoints(self, position: Position) -> Position:
        return _replace(position, before=frozenset(self.before), after=frozenset(self.after))

_replace = dataclasses.replace


def _message(value: Message | tuple[str, str] | str) -> Message:
    if isinstance(value, Message):
        return value
    if isinstance(value, tuple):
        role, text = value
        return Message.text_message(text, role=role)
    return Message.text_message(str(value))


def _as_points(spec: Any) -> Any:
    """Node names or node -> condition; a single name is a list of one."""
    return [spec] if isinstance(spec, str) else spec
