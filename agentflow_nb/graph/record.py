"""How a run saves its steps and ends — a pause, a stop, an error, completion — and tells the
stream and the publishers. The stepping loop itself is `agentflow_nb.graph.run.GraphRun`."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from agentflow_nb.checkpointer.base import Checkpoint, CheckpointSource, StateChanges
from agentflow_nb.errors import GraphRecursionError, NodeError, UnsaveableValueError
from agentflow_nb.graph.chunks import StreamChunk, StreamEventType
from agentflow_nb.graph.frames import Stack, pack, pack_step, packed_fields
from agentflow_nb.graph.paths import join_path
from agentflow_nb.graph.results import Touched
from agentflow_nb.publisher.events import EventType
from agentflow_nb.state import AgentState, ExecutionMeta, ExecutionStatus

if TYPE_CHECKING:
    from agentflow_nb.graph.compiled import CompiledGraph

__all__ = ["Recorder"]

S = ExecutionStatus
_CLEAR = {"interrupted_node": None, "interrupt_reason": None, "interrupt_data": None, "error": None}


def _clear(meta: ExecutionMeta) -> bool:
    """Whether `meta` holds no pause and no error (`_CLEAR` would change nothing)."""
    return meta.interrupted_node is meta.interrupt_reason is meta.interrupt_data is meta.error is None


class Recorder:
    """The saving and telling half of a run: everything but the loop."""

    def __init__(self, graph: CompiledGraph, config: dict[str, Any], recursion_limit: int) -> None:
        self.graph = graph
        self.config = config
        self.thread_id: str = config["thread_id"]
        self._run_id: str | None = None
        self.recursion_limit = recursion_limit
        #: The thread as the run last left it: the root state and the subgraph frames it is in.
        self.stack: Stack | None = None
        self.checkpoint_id: str | None = None
        self._saved: AgentState | None = None  # the packed state last saved
        self._shape: tuple[str, ...] = ()  # the frames' paths when it was saved
        self._final: StreamChunk | None = None
        self._error: BaseException | None = None
        self.quiet = False  # no chunk but the last is wanted (see `GraphRun.quiet`)
        self._telling = True  # someone hears of each step: a stream, or a publisher
        self._pending: list[StreamChunk] = []  # chunks made by a step, not yet yielded
        self._last_saved: Checkpoint | None = None  # the newest checkpoint this run saved

    @property
    def run_id(self) -> str:
        """This run's id, as events carry it (made when first asked for)."""
        if self._run_id is None:
            self._run_id = uuid.uuid4().hex
        return self._run_id

    @property
    def state(self) -> AgentState | None:
        """The thread's root state as the run last left it."""
        return None if self.stack is None else self.stack.root

    # -- endings --------------------------------------------------------------------------

    async def _pause(
        self, stack: Stack, node: str, kind: str, reason: str, *, next_node: str | None,
        request: Any = None, hint: Touched | None = None,
    ) -> None:
        """Pause at `node` (`hint`: what the node that just ran can have changed, see `_save`)."""
        before = kind == "before" or (request is not None and request.status is S.INTERRUPTED_BEFORE)
        data = request.interrupt_data if request is not None else None
        asked = request.interrupted_node if request is not None else None
        stack = stack.with_meta(
            status=S.INTERRUPTED_BEFORE if before else S.INTERRUPTED_AFTER,
            current_node=node,
            next_node=next_node,
            interrupted_node=join_path(stack.prefix, asked) if asked else node,
            interrupt_reason=reason,
            interrupt_data=data,
            error=None,
        )
        await self._save(stack, hint=hint, last=True)
        where = "before" if before else "after"
        payload: dict[str, Any] = {"interrupted": kind, "reason": reason, "where": where}
        if data:
            payload["interrupt_data"] = data
        content = f"paused {where} `{node}`: {reason}"
        self._final_chunk(StreamEventType.INTERRUPTED, stack, node, content, payload)

    async def _stop(self, stack: Stack, next_node: str) -> None:
        reason = "stop requested"
        stack = stack.with_meta(
            status=S.STOPPED, next_node=next_node, interrupted_node=next_node,
            interrupt_reason=reason, interrupt_data=None, error=None,
        )
        await self._save(stack, last=True)
        last = stack.root.execution_meta.current_node
        where = f"after `{last}`" if last else f"before `{next_node}`"
        self._final_chunk(StreamEventType.STOPPED, stack, last or next_node, f"stopped {where}: {reason}",
                          {"interrupted": "stop", "reason": reason, "next_node": next_node})

    async def _fail(self, stack: Stack, node: str, exc: Exception, *, next_node: str | None) -> None:
        text = f"{type(exc).__name__}: {exc}"
        stack = stack.with_meta(status=S.ERROR, current_node=node, next_node=next_node, error=text)
        await self._save(stack, last=True)
        if isinstance(exc, (NodeError, GraphRecursionError)):
            error: Exception = exc
        else:
            error = NodeError(
                f"node `{node}` raised {text}; fix it and invoke thread `{self.thread_id}` again "
                "to retry", node=node, thread_id=self.thread_id,
            )
            error.__cause__ = exc
        self._error = error
        self._final_chunk(StreamEventType.ERROR, stack, node, f"`{node}` failed: {text}", {"error": text})

    def _unsaveable(self, node: str, exc: Exception) -> NodeError:
        text = (
            f"node `{node}` left a value the checkpointer refuses: {exc}" if isinstance(exc, UnsaveableValueError)
            else f"node `{node}` left a value in the state that cannot be saved as JSON ({exc}); "
            "keep state fields to JSON data (str, numbers, lists, dicts, pydantic models)"
        )
        error = NodeError(text, node=node, thread_id=self.thread_id)
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

    def _finish_completed(self, stack: Stack) -> None:
        meta = stack.root.execution_meta
        self._final_chunk(StreamEventType.COMPLETED, stack, meta.current_node, f"completed at step {meta.step}", {})

    # -- saving ---------------------------------------------------------------------------

    def _remember(self, stack: Stack, checkpoint_id: str) -> None:
        """Start from a loaded checkpoint."""
        self.stack, self.checkpoint_id = stack, checkpoint_id
        self._saved, self._shape = pack(stack), stack.shape

    async def _save(self, stack: Stack, source: CheckpointSource = "run", hint: Touched | None = None,
                    *, last: bool = False) -> None:
        """Save `stack`. A node's `hint` (what its result can have changed) spares comparing the
        rest; it holds because the last save was of the state the node started from, but for its
        metadata (a subgraph entered or left since changes that: then the states are compared)."""
        frames, saved = stack.frames, self._saved
        if saved is None:
            state, changes = pack(stack), None
        elif not frames:
            state = stack.root
            changes = StateChanges.between(saved, state, *hint) if hint is not None and not self._shape \
                else StateChanges.between(saved, state)
        elif hint is None or hint.fields is None or stack.shape != self._shape:  # e.g. a subgraph entered or left
            state = pack(stack)
            changes = StateChanges.between(saved, state)
        else:  # a step inside the same subgraphs: the hint in packed terms; the log only grows at its end
            state = pack_step(saved, stack, hint.fields)
            kept = None if hint.kept is None else len(saved.messages)
            changes = StateChanges.between(saved, state, packed_fields(len(frames), hint.fields), kept)
        checkpoint = Checkpoint.of(state, source=source, parent_id=self.checkpoint_id, thread_id=self.thread_id)
        checkpointer = self.graph.checkpointer
        await (checkpointer.aput_last if last else checkpointer.aput)(checkpoint, changes=changes)
        self._saved, self._shape, self.stack = state, stack.shape, stack
        self.checkpoint_id = checkpoint.checkpoint_id
        self._last_saved = checkpoint

    # -- telling --------------------------------------------------------------------------

    def _chunk(self, kind: StreamEventType, stack: Stack, node: str | None, content: str,
               data: dict[str, Any]) -> StreamChunk:
        return StreamChunk(kind, content, self.thread_id, node, stack.root.execution_meta.step, data)

    def _final_chunk(self, kind: StreamEventType, stack: Stack, node: str | None, content: str,
                     data: dict[str, Any]) -> None:
        self.stack = stack
        self._final = self._chunk(kind, stack, node, content, data)

    async def _emit(self, kind: StreamEventType, event: EventType | None, stack: Stack,
                    node: str | None, content: str, data: dict[str, Any] | None = None) -> None:
        """Tell the publishers (`event`), and the stream unless the run is `quiet`."""
        data = data or {}
        if event is not None and self.graph.listened:
            await self._publish(event, stack.root, node, content, data)
        if not self.quiet:
            self._pending.append(self._chunk(kind, stack, node, content, data))

    def _told(self) -> list[StreamChunk]:
        """The chunks made since the last call, to yield now."""
        if not self._pending:
            return []
        chunks, self._pending = self._pending, []
        return chunks

    async def _publish_final(self) -> None:
        if not self.graph.listened:  # nobody to tell
            return
        chunk, state = self._final, self.state
        assert chunk is not None and state is not None
        if chunk.event_type is StreamEventType.STOPPED:
            await self._publish(EventType.INTERRUPTED, state, chunk.node, chunk.content, chunk.data)
        await self._publish(EventType(chunk.event_type.value), state, chunk.node, chunk.content, chunk.data)

    async def _publish(self, kind: EventType, state: AgentState, node: str | None, content: str = "",
                       data: dict[str, Any] | None = None) -> None:
        if not self.graph.listened:  # nobody to tell: not even a run id is needed
            return
        await self.graph.emit(kind, state, node=node, content=content, data=data, run_id=self.run_id)

