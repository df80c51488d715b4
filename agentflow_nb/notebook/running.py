"""How a `DebugSession` runs its thread in the background, and follows a run held elsewhere.

A run goes on the engine's background loop (`agentflow_nb.run_in_background`): each chunk of
the engine's stepping loop moves the session's position and log, twice a second the state saved
so far is read for the (read-only) inspector, and when the run pauses or ends the thread is read
back from the store. A thread another process runs is followed by polling the store, never
taken over.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import time
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from agentflow_nb import run_in_background
from agentflow_nb.errors import ThreadBusyError
from agentflow_nb.graph.breakpoints import Condition
from agentflow_nb.graph.chunks import StreamChunk, StreamEventType
from agentflow_nb.graph.command import START
from agentflow_nb.notebook.events import kind_of
from agentflow_nb.notebook.status import SessionStatus
from agentflow_nb.notebook.timeline import path_edges
from agentflow_nb.render.shape import Phase, Position
from agentflow_nb.state import ExecutionStatus

if TYPE_CHECKING:
    from agentflow_nb.checkpointer.base import Checkpoint
    from agentflow_nb.graph.compiled import CompiledGraph

__all__ = ["SessionRuns"]

St = SessionStatus
_FINAL = {
    StreamEventType.INTERRUPTED: St.PAUSED, StreamEventType.COMPLETED: St.COMPLETED,
    StreamEventType.STOPPED: St.STOPPED, StreamEventType.ERROR: St.ERROR,
}
_FINAL_PHASE: dict[SessionStatus, Phase] = {St.COMPLETED: "done", St.STOPPED: "stopped", St.ERROR: "error"}
_replace = dataclasses.replace


class SessionRuns:
    """The background half of `DebugSession` (a mixin: the session holds the state it uses)."""

    app: CompiledGraph
    config: dict[str, Any]
    before: dict[str, Condition | None]
    after: dict[str, Condition | None]
    status: SessionStatus
    error: BaseException | None
    position: Position
    path: list[str]
    latest: Checkpoint | None
    poll: float
    started_at: float | None
    finished_at: float | None
    node_started_at: float | None
    stop_asked_at: float | None
    _future: concurrent.futures.Future[Any] | None
    _watcher: concurrent.futures.Future[Any] | None
    _dirty: bool
    _closed: bool
    _runs: int
    if TYPE_CHECKING:  # provided by DebugSession
        @property
        def thread_id(self) -> str: ...
        @property
        def _thread_config(self) -> dict[str, Any]: ...
        def _notify(self, kind: str) -> None: ...
        def _log(self, kind: str, text: str, *, step: int | None = None, node: str | None = None,
                 notify: bool = True) -> None: ...
        def _set_status(self, status: SessionStatus) -> None: ...
        async def _arefresh(self) -> None: ...
        def _with_breakpoints(self, position: Position) -> Position: ...

    def _start(self, input: Mapping[str, Any], *, step: bool,
               extra_before: Mapping[str, Condition | None] | None = None) -> None:
        self.error = None
        self.started_at, self.finished_at, self.stop_asked_at = time.monotonic(), None, None
        self.position = self._with_breakpoints(Position(
            current=self.position.current, visited=frozenset(self.path), path_edges=path_edges(self.path)))
        self._set_status(St.RUNNING)
        self._notify("position")
        config = {**self.config, "interrupt_before": {**self.before, **(extra_before or {})},
                  "interrupt_after": dict(self.after), "step": step}
        self._runs += 1
        self._future = run_in_background(self._drive(input, config, self._runs))

    async def _drive(self, input: Mapping[str, Any], config: dict[str, Any], token: int) -> None:
        ticker = asyncio.get_running_loop().create_task(self._tick())
        try:
            async for chunk in self.app.iter(input, config):
                self._on_chunk(chunk)
        except ThreadBusyError as exc:
            self._log("error", f"{exc}")
            self.status = St.BUSY
            self._follow()
        except Exception as exc:  # noqa: BLE001 - shown in the session, kept in .error
            self.error = _explained(exc, self)
            self.status = St.ERROR
            self._log("error", f"{type(self.error).__name__}: {self.error}")
        finally:
            ticker.cancel()
            await self._settle(token)

    async def _settle(self, token: int) -> None:
        """After a run: read the saved thread; the status is what was saved (or BUSY/NEW)."""
        self.finished_at = time.monotonic()
        busy = self.status is St.BUSY
        self.status = St.NEW  # not running: `_loaded` takes the status from the newest checkpoint
        await self._arefresh()
        if token != self._runs:  # a newer run started meanwhile: it owns the status now
            return
        if busy:
            self.status = St.BUSY
        self._notify("saved")
        self._notify("position")
        self._notify("status")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            if self._dirty:  # show the state as saved so far (read-only while running)
                self._dirty = False
                latest = await self.app.aget_state(self._thread_config)
                if latest is not None:
                    self.latest = latest
                    self._notify("saved")
            self._notify("tick")

    def _on_chunk(self, chunk: StreamChunk) -> None:
        kind, node = chunk.event_type, chunk.node
        position = self.position
        phase: Phase
        if kind is StreamEventType.NODE_START and node is not None:
            last = self.path[-1] if self.path else START
            phase = "stopping" if self.status is St.STOPPING else "running"
            position = _replace(position, current=node, phase=phase, edge=(last, node))
            self.node_started_at = time.monotonic()
            self._dirty = True
        elif kind is StreamEventType.NODE_END and node is not None:
            self.path.append(node)
            position = _replace(position, visited=frozenset(self.path), path_edges=path_edges(self.path))
            self._dirty = True
        elif kind in _FINAL:
            status = _FINAL[kind]
            where = chunk.data.get("where") if kind is StreamEventType.INTERRUPTED else None
            phase = "after" if where == "after" else "before" if where else _FINAL_PHASE[status]
            last = self.path[-1] if self.path else START
            edge = (last, node) if phase in ("before", "stopped", "error") and node and node != last else \
                position.edge
            position = _replace(position, current=node, phase=phase, edge=edge)
            self.status = status
        self.position = position
        if kind is not StreamEventType.MESSAGE or len(chunk.content) < 300:
            self._log(kind_of(kind), chunk.content, step=chunk.step, node=node, notify=False)
        if kind is not StreamEventType.NODE_END and kind is not StreamEventType.MESSAGE:
            self._notify("position")  # a node's end shows with what follows it (the next start, a pause)
        self._notify("log")
        if kind in _FINAL:
            self._notify("status")

    # -- following a run elsewhere ----------------------------------------------------------

    def _follow(self) -> None:
        """Show a thread another run holds: read-only, refreshed from the store until it settles."""
        self.status = St.BUSY
        self._notify("status")
        if self._watcher is None or self._watcher.done():
            self._watcher = run_in_background(_watch(weakref.ref(self)))

    async def _look(self) -> bool:
        """One look at the store while following; False when the session should stop watching."""
        if self._closed:
            return False
        if self._future is not None and not self._future.done():
            return True  # our own run: its events say it all
        newest = await self.app.aget_state(self._thread_config)
        known = self.latest.checkpoint_id if self.latest is not None else None
        was = self.status
        if newest is not None and newest.checkpoint_id != known:
            self.status = St.NEW  # let `_loaded` read the status from the newest checkpoint
            await self._arefresh()
            self._notify("saved")
        if self.latest is not None and self.latest.status is ExecutionStatus.RUNNING:
            busy = await self.app.ais_running(self._thread_config)
            self.status = (St.STOPPING if was is St.STOPPING else St.BUSY) if busy else St.IDLE
        elif self.latest is not None:
            self.status = St.of(self.latest.status)
        if self.status is not was or (newest is not None and newest.checkpoint_id != known):
            self._notify("position")
            self._notify("status")
        return True


async def _watch(ref: weakref.ref[SessionRuns]) -> None:
    """Poll the store for a session (held weakly, so a forgotten session stops its watch)."""
    while True:
        session = ref()
        if session is None:
            return
        interval = session.poll if session.status.running else session.poll * 2
        del session
        await asyncio.sleep(interval)
        session = ref()
        if session is None or not await session._look():
            return
        del session


def _explained(exc: Exception, session: SessionRuns) -> Exception:
    """A run that could not start a new thread because the state needs fields: say which."""
    if session.latest is not None or not isinstance(exc, ValidationError):
        return exc
    missing = [".".join(map(str, e["loc"])) for e in exc.errors() if e["type"] == "missing"]
    if not missing:
        return exc
    names = ", ".join(f"`{m}`" for m in missing)
    error = ValueError(
        f"thread `{session.thread_id}` cannot start: the state needs {names}, which have no default; "
        f"pass them in the input, e.g. `debug(app, {{{', '.join(repr(m) + ': ...' for m in missing)}}})`"
    )
    error.__cause__ = exc
    return error


