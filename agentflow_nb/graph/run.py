"""`GraphRun`: the one stepping loop behind `invoke`, `stream` and the notebook debugger.

A run holds its thread for its whole life, saves a checkpoint after every node, and ends at a
pause, a stop, an error or `END`. It is an async iterator of `StreamChunk`s; the last chunk is
yielded only after the final checkpoint is saved and the thread released, so whoever reads it
may resume the thread at once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic_core import PydanticSerializationError

from agentflow_nb.checkpointer.base import Checkpoint, CheckpointSource, StateChanges
from agentflow_nb.errors import (
    GraphRecursionError,
    NodeError,
    UnknownThreadError,
    UnsaveableValueError,
    name_list,
)
from agentflow_nb.graph.breakpoints import Breakpoints
from agentflow_nb.graph.chunks import StreamChunk, StreamEventType
from agentflow_nb.graph.command import END, START
from agentflow_nb.graph.updates import (
    Touched,
    apply_input,
    apply_result,
    interrupt_request,
    new_fields_of,
    node_copy,
    own_thread,
    touched,
    with_meta,
)
from agentflow_nb.publisher.events import EventType
from agentflow_nb.state import RESUMABLE, AgentState, ExecutionStatus

if TYPE_CHECKING:
    from agentflow_nb.graph.compiled import CompiledGraph

__all__ = ["GraphRun"]

log = logging.getLogger("agentflow_nb")
S = ExecutionStatus
_CLEAR = {"interrupted_node": None, "interrupt_reason": None, "interrupt_data": None, "error": None}


class GraphRun:
    """One run of one thread. Iterate it (`async for chunk in run`), then read `result()`."""

    def __init__(
        self,
        graph: CompiledGraph,
        input: Mapping[str, Any] | None,
        config: dict[str, Any],
        breakpoints: Breakpoints,
        recursion_limit: int,
    ) -> None:
        self.graph = graph
        self.config = config
        self.thread_id: str = config["thread_id"]
        self.run_id = uuid.uuid4().hex
        self.breakpoints = breakpoints
        self.recursion_limit = recursion_limit
        self.state: AgentState | None = None
        self.checkpoint_id: str | None = None
        self._saved: AgentState | None = None
        self._changes: StateChanges | None = None  # what the last save compared
        self._final: StreamChunk | None = None
        self._error: BaseException | None = None
        self._gen: AsyncGenerator[StreamChunk, None] = self._execute(input)
        #: Run sync node bodies on the loop's own thread instead of a worker thread. Only for a
        #: loop that serves this run alone (the sync twins' private loop): on a shared loop a
        #: slow node would hold up every other run and `stop()`.
        self.inline_sync_nodes = False
        self._stop_asked = False

    def __aiter__(self) -> GraphRun:
        return self

    async def __anext__(self) -> StreamChunk:
        return await self._gen.__anext__()

    def request_stop(self) -> None:
        """Stop this run at its next node boundary, as `stop()` would (safe from any thread)."""
        self._stop_asked = True

    async def aclose(self) -> None:
        """Abandon the run; the thread keeps its last checkpoint and can be resumed."""
        await self._gen.aclose()

    def result(self) -> dict[str, Any]:
        """The `invoke` result: messages, state, interrupted, interrupt_reason, current_node, ..."""
        if self.state is None:
            raise RuntimeError("the run has not started; iterate it first")
        meta = self.state.execution_meta
        return {
            "messages": list(self.state.messages),
            "state": self.state,
            "interrupted": meta.is_interrupted(),
            "interrupt_reason": meta.interrupt_reason,
            "current_node": meta.current_node,
            "status": meta.status,
            "thread_id": self.thread_id,
            "step": meta.step,
            "checkpoint_id": self.checkpoint_id,
        }

    # -- the loop -------------------------------------------------------------------------

    async def _execute(self, input: Mapping[str, Any] | None) -> AsyncGenerator[StreamChunk, None]:
        async with self.graph.checkpointer.lease(self.thread_id):
            state = await self._start(input)
            if state is not None:
                async for chunk in self._steps(state):
                    yield chunk
        assert self._final is not None
        await self._publish_final()
        yield self._final
        if self._error is not None:
            raise self._error

    async def _start(self, input: Mapping[str, Any] | None) -> AgentState | None:
        """Load the thread and merge the input; None when there is nothing to run."""
        graph = self.graph
        wanted = self.config.get("checkpoint_id")
        latest = await graph.checkpointer.aget(self.thread_id, wanted, schema=graph.schema)
        if latest is None and wanted:
            raise LookupError(
                f"checkpoint `{wanted}` is not in thread `{self.thread_id}`; list its checkpoints "
                "with `app.get_state_history(config)`"
            )
        if latest is None and not input:
            raise UnknownThreadError(self.thread_id)
        base = graph.new_state(self.thread_id, input) if latest is None else latest.state
        if latest is not None:
            self._saved, self.checkpoint_id = latest.state, latest.checkpoint_id
            self.state = latest.state
            base = own_thread(base, self.thread_id)  # a copied file still names its old thread
            if base.execution_meta.status is S.COMPLETED:
                if not input:
                    self._finish_completed(base)
                    return None
                base = with_meta(base, status=S.RUNNING, current_node=None, next_node=None, **_CLEAR)
        # the input that starts a thread may bring any fields; later ones only known or named ones
        state = apply_input(base, input, new_fields=True if latest is None else new_fields_of(self.config))
        if latest is None or state is not latest.state:
            await self._save(state)
        status = state.execution_meta.status
        resumed = status in RESUMABLE or status is S.ERROR
        await self._publish(EventType.RESUMED if resumed else EventType.START, state, None)
        return state

    async def _steps(self, state: AgentState) -> AsyncIterator[StreamChunk]:
        meta = state.execution_meta
        skip_before = bool(meta.next_node) and meta.status in (S.INTERRUPTED_BEFORE, S.ERROR, S.STOPPED)
        state = with_meta(state, status=S.RUNNING, **_CLEAR)
        try:
            node = meta.next_node or await self._route(meta.current_node or START, state)
        except Exception as exc:
            await self._fail(state, meta.current_node or START, exc, next_node=None)
            return
        steps = 0
        while node != END:
            if not skip_before:
                fired = await self._check(self.breakpoints.fires_before, node, state, next_node=node)
                if fired is None:
                    return
                if fired:
                    await self._pause(state, node, "before", f"interrupt_before: {node}", next_node=node)
                    return
            skip_before = False
            if self._stop_asked or await self.graph.checkpointer.aconsume_stop(self.thread_id):
                await self._stop(state, node)
                return
            if steps >= self.recursion_limit:
                await self._fail(state, node, self._recursion_error(), next_node=node)
                return
            following: str | None = None
            async for item in self._run_node(node, state):
                if isinstance(item, StreamChunk):
                    yield item
                else:
                    state, following = item
            if following is None:  # the run paused, stopped or failed in that node
                return
            steps += 1
            node = following
        if state.execution_meta.status is not S.COMPLETED:  # resumed with nothing left to run
            state = with_meta(state, status=S.COMPLETED, next_node=None)
            await self._save(state)
        self._finish_completed(state)

    async def _run_node(
        self, node: str, state: AgentState
    ) -> AsyncIterator[StreamChunk | tuple[AgentState, str | None]]:
        """Run one node, save where it leaves the thread, then yield its chunks and
        `(state, next node)` (next node None when the run ends here)."""
        started = f"{node} started"
        yield await self._emit(StreamEventType.NODE_START, EventType.NODE_START, state, node, started)
        working = node_copy(state)
        try:
            result = await self.graph.nodes[node].call(working, self.config, in_thread=not self.inline_sync_nodes)
            new_state, goto = apply_result(node, self.thread_id, state, result)
            hint = touched(state, result)
            request = interrupt_request(working, result)
            if goto is not None:
                self._resolve(node, goto, None, what="Command(goto=...)")
        except Exception as exc:
            await self._fail(state, node, exc, next_node=node)
            return
        if request is not None and request.status is S.INTERRUPTED_BEFORE:
            reason = request.interrupt_reason or f"{node} asked to pause"
            await self._pause(state, node, "node", reason, next_node=node, request=request)
            return
        old = state
        state = with_meta(
            new_state, status=S.RUNNING, current_node=node, next_node=goto,
            step=old.execution_meta.step + 1, **_CLEAR,
        )
        try:
            following = await self._settle(node, state, goto, request, hint)
        except (PydanticSerializationError, UnsaveableValueError) as exc:
            await self._fail(old, node, self._unsaveable(node, exc), next_node=node)
            return
        state = self.state or state
        fresh = hint.kept
        if fresh is None:  # a whole state returned: the save compared the lists already
            fresh = (self._changes or StateChanges()).messages_from_for(old.messages, state.messages)
        for message in state.messages[fresh or 0 :]:
            data = {"role": message.role, "message_id": message.message_id}
            yield await self._emit(StreamEventType.MESSAGE, None, state, node, message.content, data)
        yield await self._emit(StreamEventType.NODE_END, EventType.NODE_END, state, node, f"{node} finished")
        yield state, following

    async def _settle(
        self, node: str, state: AgentState, goto: str | None, request: Any, hint: Touched
    ) -> str | None:
        """After `node` ran: pause, or route and save. The next node, or None if the run ends."""
        if request is not None:
            reason = request.interrupt_reason or f"{node} asked to pause"
            await self._pause(state, node, "node", reason, next_node=goto, request=request)
            return None
        fired = await self._check(self.breakpoints.fires_after, node, state, next_node=goto)
        if fired is None:
            return None
        if fired:
            label = "step" if self.breakpoints.step else "interrupt_after"
            await self._pause(state, node, "after", f"{label}: {node}", next_node=goto)
            return None
        try:
            following = goto or await self._route(node, state)
        except Exception as exc:
            await self._fail(state, node, exc, next_node=None)
            return None
        if following == END:  # one checkpoint for the last step, already marked completed
            state = with_meta(state, status=S.COMPLETED, next_node=None)
        await self._save(state, hint=hint)
        return following

    # -- routing --------------------------------------------------------------------------

    async def _route(self, source: str, state: AgentState) -> str:
        graph = self.graph
        branch = graph.branches.get(source)
        if branch is None:
            targets = graph.edges.get(source)
            if not targets:
                raise NodeError(
                    f"node `{source}` has no edge out and returned no `Command(goto=...)`",
                    node=source, thread_id=self.thread_id,
                )
            return targets[0]
        key = await branch.router.call(state, self.config, in_thread=False)
        return self._resolve(source, key, branch.path_map, what=f"router `{branch.router.name}`")

    def _resolve(self, source: str, key: Any, path_map: dict[Any, str] | None, *, what: str) -> str:
        if path_map is not None:
            try:
                if key in path_map:
                    return path_map[key]
            except TypeError:  # unhashable key
                pass
        if key == END or key in self.graph.nodes:
            return key
        valid = list(path_map or ()) or [*self.graph.nodes, END]
        raise NodeError(
            f"{what} of `{source}` returned `{key!r}`; expected one of {name_list(map(str, valid))}",
            node=source, thread_id=self.thread_id,
        )

    async def _check(
        self, fires: Any, node: str, state: AgentState, *, next_node: str | None
    ) -> bool | None:
        """Evaluate a breakpoint; None when its condition raised (the run then ends in ERROR)."""
        try:
            return bool(fires(node, state))
        except Exception as exc:
            error = NodeError(
                f"the breakpoint condition on `{node}` raised {type(exc).__name__}: {exc}",
                node=node, thread_id=self.thread_id,
            )
            error.__cause__ = exc
            await self._fail(state, node, error, next_node=next_node)
            return None

    # -- endings --------------------------------------------------------------------------

    async def _pause(
        self, state: AgentState, node: str, kind: str, reason: str, *, next_node: str | None,
        request: Any = None,
    ) -> None:
        before = kind == "before" or (request is not None and request.status is S.INTERRUPTED_BEFORE)
        data = request.interrupt_data if request is not None else None
        state = with_meta(
            state,
            status=S.INTERRUPTED_BEFORE if before else S.INTERRUPTED_AFTER,
            current_node=node,
            next_node=next_node,
            interrupted_node=(request.interrupted_node if request is not None else None) or node,
            interrupt_reason=reason,
            interrupt_data=data,
            error=None,
        )
        await self._save(state)
        where = "before" if before else "after"
        payload: dict[str, Any] = {"interrupted": kind, "reason": reason, "where": where}
        if data:
            payload["interrupt_data"] = data
        content = f"paused {where} `{node}`: {reason}"
        self._final_chunk(StreamEventType.INTERRUPTED, state, node, content, payload)

    async def _stop(self, state: AgentState, next_node: str) -> None:
        reason = "stop requested"
        state = with_meta(
            state, status=S.STOPPED, next_node=next_node, interrupted_node=next_node,
            interrupt_reason=reason, interrupt_data=None, error=None,
        )
        await self._save(state)
        last = state.execution_meta.current_node
        where = f"after `{last}`" if last else f"before `{next_node}`"
        self._final_chunk(StreamEventType.STOPPED, state, last or next_node, f"stopped {where}: {reason}",
                          {"interrupted": "stop", "reason": reason, "next_node": next_node})

    async def _fail(self, state: AgentState, node: str, exc: Exception, *, next_node: str | None) -> None:
        text = f"{type(exc).__name__}: {exc}"
        state = with_meta(state, status=S.ERROR, current_node=node, next_node=next_node, error=text)
        await self._save(state)
        if isinstance(exc, (NodeError, GraphRecursionError)):
            error: Exception = exc
        else:
            error = NodeError(
                f"node `{node}` raised {text}; fix it and invoke thread `{self.thread_id}` again "
                "to retry", node=node, thread_id=self.thread_id,
            )
            error.__cause__ = exc
        self._error = error
        self._final_chunk(StreamEventType.ERROR, state, node, f"`{node}` failed: {text}", {"error": text})

    def _unsaveable(self, node: str, exc: Exception) -> NodeError:
        error = NodeError(
            f"node `{node}` left a value in the state that cannot be saved as JSON: {exc} The "
            f"thread keeps the state from before `{node}`; fix the node and invoke again to retry.",
            node=node, thread_id=self.thread_id,
        )
        error.__cause__ = exc
        return error

    def _recursion_error(self) -> GraphRecursionError:
        limit = self.recursion_limit
        return GraphRecursionError(
            f"thread `{self.thread_id}` ran {limit} steps without reaching END (recursion_limit "
            f"{limit}); if the loop is intended, invoke again to continue or raise it with "
            f'config={{"recursion_limit": {limit * 4}}}',
            thread_id=self.thread_id, limit=limit,
        )

    def _finish_completed(self, state: AgentState) -> None:
        meta = state.execution_meta
        self.state = state
        self._final_chunk(StreamEventType.COMPLETED, state, meta.current_node,
                          f"completed at step {meta.step}", {})

    # -- saving and telling ---------------------------------------------------------------

    async def _save(self, state: AgentState, source: CheckpointSource = "run", hint: Touched | None = None) -> None:
        """Save `state`. A node's `hint` (what its result can have changed) spares comparing the
        rest; it holds because the last save was of the state the node started from, but for its
        metadata."""
        changes = None if self._saved is None else StateChanges.between(self._saved, state, *(hint or ()))
        checkpoint = Checkpoint.of(state, source=source, parent_id=self.checkpoint_id, thread_id=self.thread_id)
        await self.graph.checkpointer.aput(checkpoint, changes=changes)
        self._saved = self.state = state
        self._changes = changes
        self.checkpoint_id = checkpoint.checkpoint_id

    def _chunk(self, kind: StreamEventType, state: AgentState, node: str | None, content: str,
               data: dict[str, Any]) -> StreamChunk:
        return StreamChunk(kind, content, self.thread_id, node, state.execution_meta.step, data)

    def _final_chunk(self, kind: StreamEventType, state: AgentState, node: str | None, content: str,
                     data: dict[str, Any]) -> None:
        self.state = state
        self._final = self._chunk(kind, state, node, content, data)

    async def _emit(self, kind: StreamEventType, event: EventType | None, state: AgentState,
                    node: str | None, content: str, data: dict[str, Any] | None = None) -> StreamChunk:
        chunk = self._chunk(kind, state, node, content, data or {})
        if event is not None:
            await self._publish(event, state, node, content, chunk.data)
        return chunk

    async def _publish_final(self) -> None:
        chunk, state = self._final, self.state
        assert chunk is not None and state is not None
        if chunk.event_type is StreamEventType.STOPPED:
            await self._publish(EventType.INTERRUPTED, state, chunk.node, chunk.content, chunk.data)
        await self._publish(EventType(chunk.event_type.value), state, chunk.node, chunk.content, chunk.data)

    async def _publish(self, kind: EventType, state: AgentState, node: str | None, content: str = "",
                       data: dict[str, Any] | None = None) -> None:
        await self.graph.emit(kind, state, node=node, content=content, data=data, run_id=self.run_id)
