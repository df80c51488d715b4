"""`DebugSession`: drives one thread through the engine's stepping loop, in the background.

The session is the controller the widgets and the magic sit on, and it is scriptable:
`session.resume(edits=...)`, `.step()`, `.stop()`, `.state`, `.history`, `.wait()`.
Runs go on the engine's background loop thread, so a notebook cell returns at once and the
kernel stays free to handle button clicks. No call here ever waits for a click.
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

from agentflow_nb import _sync
from agentflow_nb.checkpointer.base import Checkpoint, StateChanges
from agentflow_nb.graph.breakpoints import Condition
from agentflow_nb.graph.chunks import StreamChunk, StreamEventType
from agentflow_nb.graph.command import START
from agentflow_nb.graph.compiled import CompiledGraph
from agentflow_nb.render.shape import Phase, Position
from agentflow_nb.state import AgentState, ExecutionStatus, Message

__all__ = ["DebugSession", "position_of"]

Listener = Callable[[str], None]
HISTORY_LIMIT = 200
S = ExecutionStatus
_PHASES: dict[ExecutionStatus, Phase] = {
    S.INTERRUPTED_BEFORE: "before", S.INTERRUPTED_AFTER: "after", S.RUNNING: "after",
    S.COMPLETED: "done", S.STOPPED: "stopped", S.ERROR: "error",
}
_STATUS = {
    StreamEventType.INTERRUPTED: "paused", StreamEventType.COMPLETED: "completed",
    StreamEventType.STOPPED: "stopped", StreamEventType.ERROR: "error",
}


def position_of(checkpoint: Checkpoint, visited: frozenset[str] = frozenset()) -> Position:
    """Where a saved checkpoint stands, for the drawing."""
    meta = checkpoint.state.execution_meta
    node = meta.current_node
    if checkpoint.status is S.STOPPED and meta.next_node:
        node = meta.next_node
    return Position(current=node, phase=_PHASES.get(checkpoint.status), visited=visited)


class DebugSession:
    """One thread under the debugger.

    Args:
        app: the compiled graph.
        input: input of the first run; None attaches to the thread as saved.
        config: run config; `thread_id` defaults to a fresh `debug-...` id.
        before / after: breakpoints for this session (node names, or node -> condition);
            the graph's own `interrupt_before` / `interrupt_after` are included.
        step: pause after the first node.
        start: start the first run now (default True when `input` is given).
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
    ) -> None:
        self.app = app
        self.config = dict(config or {})
        self.config.setdefault("thread_id", f"debug-{uuid.uuid4().hex[:6]}")
        self.before: dict[str, Condition | None] = dict.fromkeys(app.interrupt_before)
        self.after: dict[str, Condition | None] = dict.fromkeys(app.interrupt_after)
        self.before.update(_as_points(app, "before", before))
        self.after.update(_as_points(app, "after", after))
        self.status = "idle"
        self.error: BaseException | None = None
        self.log: list[str] = []
        self.position = Position()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._last_done: str | None = None
        self.latest: Checkpoint | None = None
        self.latest_history: list[Checkpoint] = []
        self.latest_changed: set[str] = set()
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._future: concurrent.futures.Future[Any] | None = None
        if start is None:
            start = input is not None
        if start:
            self._start(input if input is not None else {}, step=step)
        else:
            self.refresh()

    # -- properties -----------------------------------------------------------------------

    @property
    def thread_id(self) -> str:
        """The thread this session drives."""
        return str(self.config["thread_id"])

    @property
    def running(self) -> bool:
        """True while a run is in flight (until its last event has been handled)."""
        return self.status == "running"

    @property
    def checkpoint(self) -> Checkpoint | None:
        """The thread's newest checkpoint."""
        return self.app.get_state(self.config)

    @property
    def state(self) -> AgentState | None:
        """The thread's newest saved state (a fresh copy)."""
        checkpoint = self.checkpoint
        return checkpoint.state if checkpoint is not None else None

    @property
    def history(self) -> list[Checkpoint]:
        """The thread's checkpoints, newest first."""
        return self.app.get_state_history(self.config)

    @property
    def elapsed(self) -> float:
        """Seconds the current (or last) run has taken."""
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.monotonic()) - self.started_at

    # -- listening ------------------------------------------------------------------------

    def on_change(self, callback: Listener, remove: bool = False) -> None:
        """Call `callback(kind)` on changes: "position", "log", "status", "breakpoints", "tick".

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
                self._log(f"view error: {type(exc).__name__}: {exc}", notify=False)

    def _log(self, line: str, *, notify: bool = True) -> None:
        with self._lock:
            self.log.append(line)
            del self.log[:-500]
        if notify:
            self._notify("log")

    # -- controlling ----------------------------------------------------------------------

    def resume(
        self,
        edits: Mapping[str, Any] | None = None,
        message: Message | tuple[str, str] | str | None = None,
        *,
        step: bool = False,
    ) -> DebugSession:
        """Apply `edits` (validated, saved as one "edit" checkpoint), then run on in the background.

        `message` (a `Message`, `(role, text)` or a user text) goes in with the resume.

        Raises:
            pydantic.ValidationError: an edit does not fit the schema; nothing was saved.
            RuntimeError: a run is already in flight.
        """
        if self.running:
            raise RuntimeError(f"thread `{self.thread_id}` is running; wait for it or call `.stop()`")
        if edits:
            self.app.update_state(self.config, edits)
            self._log(f"edited {', '.join(edits)}")
        value: dict[str, Any] = {}
        if message:
            value["messages"] = [_message(message)]
        self._start(value, step=step)
        return self

    def step(
        self, edits: Mapping[str, Any] | None = None, message: Message | tuple[str, str] | str | None = None
    ) -> DebugSession:
        """Like `resume`, but pause again after one node."""
        return self.resume(edits, message, step=True)

    def stop(self) -> dict[str, Any]:
        """Ask the running node to be the last; the run stops at the next node boundary."""
        status = self.app.stop(self.config)
        self._log(f"stop: {status['status']}")
        return status

    def wait(self, timeout: float | None = 30) -> str:
        """Block until the current run pauses or ends (for scripts and tests, not notebook cells
        that should stay interactive); returns the status."""
        future = self._future
        if future is not None:
            try:
                future.result(timeout)
            except concurrent.futures.TimeoutError:
                raise TimeoutError(f"thread `{self.thread_id}` still running after {timeout}s") from None
        return self.status

    async def wait_async(self) -> str:
        """Await the current run's pause or end."""
        if self._future is not None:
            await asyncio.wrap_future(self._future)
        return self.status

    def __await__(self) -> Any:
        return self.wait_async().__await__()

    def fork(self, checkpoint_id: str | None = None, new_thread_id: str | None = None) -> DebugSession:
        """A new session on a new thread copied from a checkpoint (default: the newest)."""
        config = dict(self.config)
        if checkpoint_id is not None:
            config["checkpoint_id"] = checkpoint_id
        forked = self.app.fork(config, new_thread_id)
        self._log(f"forked into thread {forked['thread_id']}")
        session_config = {k: v for k, v in self.config.items() if k != "checkpoint_id"}
        session_config["thread_id"] = forked["thread_id"]
        return DebugSession(self.app, config=session_config, before=self.before, after=self.after, start=False)

    def toggle_breakpoint(self, node: str, where: str = "before") -> bool:
        """Switch a breakpoint on or off; True if it is now on. Applies from the next run."""
        points = self._points(where, node)
        if node in points:
            del points[node]
        else:
            points[node] = None
        self._refresh_position()
        self._notify("breakpoints")
        return node in points

    def set_breakpoint(self, node: str, where: str = "before", condition: Condition | None = None) -> None:
        """Break at `node` (only when `condition(state)` holds, if given)."""
        self._points(where, node)[node] = condition
        self._refresh_position()
        self._notify("breakpoints")

    def _points(self, where: str, node: str) -> dict[str, Condition | None]:
        if where not in ("before", "after"):
            raise ValueError(f"`where` is `before` or `after`, not `{where}`")
        self.app.builder.check_names(f"a breakpoint {where}", [node])
        return self.before if where == "before" else self.after

    def refresh(self) -> None:
        """Read status, position and history from the saved thread (after attaching, a fork)."""
        _sync.run(self._arefresh())
        if self.latest is not None:
            self.status = _status_of(self.latest.status)
            self.position = position_of(self.latest, self.position.visited)
        self._refresh_position()

    async def _arefresh(self) -> None:
        """Load the newest checkpoints; views read `latest`, `latest_history`, `latest_changed`."""
        history = await self.app.aget_state_history(self.config, limit=HISTORY_LIMIT)
        self.latest_history = history
        self.latest = history[0] if history else None
        self.latest_changed = _changed(history)

    # -- the background run -----------------------------------------------------------------

    def _start(self, input: Mapping[str, Any], *, step: bool) -> None:
        self.error = None
        self.status = "running"
        self.started_at, self.finished_at = time.monotonic(), None
        self.position = Position(visited=frozenset(), before=frozenset(self.before), after=frozenset(self.after))
        meta = self.latest.state.execution_meta if self.latest is not None else None
        resumes_after = meta is not None and meta.status in (S.INTERRUPTED_AFTER, S.RUNNING, S.STOPPED)
        self._last_done = meta.current_node if resumes_after and meta is not None else None
        self._notify("status")
        config = {**self.config, "interrupt_before": dict(self.before),
                  "interrupt_after": dict(self.after), "step": step}
        self._future = asyncio.run_coroutine_threadsafe(self._drive(input, config), _sync.loop())

    async def _drive(self, input: Mapping[str, Any], config: dict[str, Any]) -> None:
        ticker = asyncio.get_running_loop().create_task(self._tick())
        try:
            async for chunk in self.app.iter(input, config):
                self._on_chunk(chunk)
        except Exception as exc:  # noqa: BLE001 - shown in the session, kept in .error
            self.error = exc
            self.status = "error"
            self._log(f"error: {type(exc).__name__}: {exc}")
        finally:
            ticker.cancel()
            self.finished_at = time.monotonic()
            await self._arefresh()
            if self.status == "running":  # cancelled, or ended without a final event
                self.status = _status_of(self.latest.status) if self.latest is not None else "idle"
            self._notify("status")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self._notify("tick")

    def _on_chunk(self, chunk: StreamChunk) -> None:
        kind, node = chunk.event_type, chunk.node
        position = self.position
        if kind is StreamEventType.NODE_START and node is not None:
            position = _replace(position, current=node, phase="running", edge=(self._last_done or START, node))
        elif kind is StreamEventType.NODE_END and node is not None:
            position = _replace(position, visited=position.visited | {node})
            self._last_done = node
        elif kind in _STATUS:
            self.status = _STATUS[kind]
            phase = chunk.data.get("where") if kind is StreamEventType.INTERRUPTED else None
            phase = phase or {"completed": "done", "stopped": "stopped", "error": "error"}[self.status]
            position = _replace(position, current=node, phase=phase)
            if phase == "before" and node is not None:  # the run is about to take this edge
                position = _replace(position, edge=(self._last_done or START, node))
        self.position = position
        if kind is not StreamEventType.MESSAGE or len(chunk.content) < 200:
            self._log(f"step {chunk.step} {kind.value:10} {chunk.content}", notify=False)
        self._notify("position")
        self._notify("log")
        if kind in _STATUS:
            self._notify("status")

    def _refresh_position(self) -> None:
        self.position = _replace(self.position, before=frozenset(self.before), after=frozenset(self.after))
        self._notify("position")


def _changed(history: list[Checkpoint]) -> set[str]:
    """Fields the newest checkpoint changed against the one before it."""
    if len(history) < 2:
        return set()
    newer, older = history[0].state, history[1].state
    changes = StateChanges.between(older, newer)
    changed = set(changes.fields or ()) - {"execution_meta"}
    if changes.messages_from != len(newer.messages):
        changed.add("messages")
    return changed


_replace = dataclasses.replace


def _status_of(status: ExecutionStatus) -> str:
    return {S.INTERRUPTED_BEFORE: "paused", S.INTERRUPTED_AFTER: "paused", S.COMPLETED: "completed",
            S.STOPPED: "stopped", S.ERROR: "error", S.RUNNING: "idle"}[status]


def _message(value: Message | tuple[str, str] | str) -> Message:
    if isinstance(value, Message):
        return value
    if isinstance(value, tuple):
        role, text = value
        return Message.text_message(text, role=role)
    return Message.text_message(str(value))


def _as_points(app: CompiledGraph, where: str, spec: Any) -> dict[str, Condition | None]:
    if isinstance(spec, str):
        spec = [spec]
    points = dict(spec) if isinstance(spec, Mapping) else dict.fromkeys(spec)
    app.builder.check_names(f"a breakpoint {where}", points)
    return points
