"""`GraphRun`: the one stepping loop behind `invoke`, `stream` and the notebook debugger.

A run holds its thread for its whole life, saves a checkpoint after every node, and ends at a
pause, a stop, an error or `END`. It is an async iterator of `StreamChunk`s; the last chunk is
yielded only after the final checkpoint is saved and the thread released, so whoever reads it
may resume the thread at once.

Subgraphs are frames on a stack (`agentflow_nb.graph.frames.Stack`) that this same loop drives:
reaching a subgraph node pushes a frame and goes on at the subgraph's first node; reaching the
subgraph's `END` pops it, passes its results out, and goes on in the parent. Breakpoints, stops,
errors and resumes therefore work alike at every depth, and positions are node paths
(`"WRITER/REVIEW"`).

Whether to pause at a node boundary is decided in one place, `agentflow_nb.graph.decide`;
routing is `agentflow_nb.graph.routing`; saving and telling `agentflow_nb.graph.record`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from pydantic_core import PydanticSerializationError

from agentflow_nb.checkpointer.base import appended_since
from agentflow_nb.errors import NodeError, UnknownThreadError, UnsaveableValueError
from agentflow_nb.graph.breakpoints import Breakpoints
from agentflow_nb.graph.chunks import StreamChunk, StreamEventType
from agentflow_nb.graph.command import END, START
from agentflow_nb.graph.decide import Outcome, Pause, decide
from agentflow_nb.graph.frames import Frame, Stack
from agentflow_nb.graph.nodes import awaitable
from agentflow_nb.graph.paths import join_path, local_name, split_path
from agentflow_nb.graph.record import _CLEAR, Recorder, _clear
from agentflow_nb.graph.routing import Routing
from agentflow_nb.graph.subgraph import Subgraph
from agentflow_nb.graph.results import Touched, apply_node_result, apply_result
from agentflow_nb.graph.updates import apply_input, new_fields_of, node_copy, own_thread
from agentflow_nb.publisher.events import EventType
from agentflow_nb.state import RESUMABLE, AgentState, ExecutionMeta, ExecutionStatus

if TYPE_CHECKING:
    from agentflow_nb.graph.compiled import CompiledGraph
    from agentflow_nb.graph.nodes import Callee

__all__ = ["GraphRun", "Outcome", "Pause", "decide"]  # `decide` & co. live in `graph.decide`

log = logging.getLogger("agentflow_nb")
S = ExecutionStatus
#: Where a step leaves the thread: its stack and the next node (None: the run ends there).
Moved = tuple[Stack, str | None]


class GraphRun(Recorder, Routing):
    """One run of one thread. Iterate it (`async for chunk in run`), then read `result()`."""

    def __init__(
        self,
        graph: CompiledGraph,
        input: Mapping[str, Any] | None,
        config: dict[str, Any],
        breakpoints: Breakpoints,
        recursion_limit: int,
    ) -> None:
        super().__init__(graph, config, recursion_limit)
        self.breakpoints = breakpoints
        self._gen: AsyncGenerator[StreamChunk, None] = self._execute(input)
        #: Run sync node bodies on the loop's own thread instead of a worker thread. Only for a
        #: loop that serves this run alone (the sync twins' private loop): on a shared loop a
        #: slow node would hold up every other run and `stop()`.
        self.inline_sync_nodes = False
        #: Nobody reads the chunks before the last one (`invoke`): the steps make none.
        self.quiet = False
        self._stop_asked = False
        self._start_depth = 0  # how deep in subgraphs the run began: where "step over/out" stop
        self._may_pause = True  # a breakpoint or stepping: `decide` at every node boundary

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
        """The `invoke` result: messages, state, interrupted, interrupt_reason, current_node, ...

        `current_node` is a node path (`"WRITER/REVIEW"` inside subgraph `WRITER`) and
        `current_path` the same as a tuple; `app.get_state(config).frames` has the states of the
        subgraphs the thread is paused in.
        """
        if self.stack is None:
            raise RuntimeError("the run has not started; iterate it first")
        state = self.stack.root
        meta = state.execution_meta
        return {
            "messages": list(state.messages),
            "state": state,
            "interrupted": meta.is_interrupted(),
            "interrupt_reason": meta.interrupt_reason,
            "current_node": meta.current_node,
            "current_path": split_path(meta.current_node),
            "status": meta.status,
            "thread_id": self.thread_id,
            "step": meta.step,
            "checkpoint_id": self.checkpoint_id,
        }

    # -- the loop -------------------------------------------------------------------------

    async def _execute(self, input: Mapping[str, Any] | None) -> AsyncGenerator[StreamChunk, None]:
        async with self.graph.checkpointer.lease(self.thread_id):
            stack = await self._start(input)
            if stack is not None:
                async for chunk in self._steps(stack):
                    yield chunk
            self._keep()
        assert self._final is not None
        await self._publish_final()
        yield self._final
        if self._error is not None:
            raise self._error

    def _keep(self) -> None:
        """Let the graph remember where this run left the thread, while the run still holds it
        (so it is the newest checkpoint): the next run of the thread need not load it. Only a
        thread at the root: the frames of subgraphs share lists a copy would part. A run that
        saved nothing leaves what the graph keeps as it was (`aload` still asks the store
        whether it is the newest)."""
        last, stack = self._last_saved, self.stack
        if last is None:
            return
        if stack is not None and not stack.frames and last.checkpoint_id == self.checkpoint_id:
            self.graph.keep(self.thread_id, last)
        else:
            self.graph.keep(self.thread_id, None)

    async def _start(self, input: Mapping[str, Any] | None) -> Stack | None:
        """Load the thread and merge the input; None when there is nothing to run. Input for a
        thread paused inside a subgraph goes to that subgraph's state: the run goes on there."""
        graph = self.graph
        wanted = self.config.get("checkpoint_id")
        latest = await graph.aload(self.thread_id, wanted)
        if latest is None and wanted:
            raise LookupError(
                f"checkpoint `{wanted}` is not in thread `{self.thread_id}`; list its checkpoints "
                "with `app.get_state_history(config)`"
            )
        if latest is None and not input:
            raise UnknownThreadError(self.thread_id)
        if latest is None:  # only a new thread is built from the input (it may supply required fields)
            stack = Stack(graph.new_state(self.thread_id, input))
            await self._save(stack)
        else:  # a copied thread file still names its old thread: this run's wins
            loaded = stack = Stack(own_thread(latest.state, self.thread_id), latest.frames)
            self._remember(stack, latest.checkpoint_id)
            if stack.root.execution_meta.status is S.COMPLETED:
                if not input:
                    self._finish_completed(stack)
                    return None
                stack = stack.with_meta(status=S.RUNNING, current_node=None, next_node=None, **_CLEAR)
            # later input (the first may bring any field) only sets known or named fields
            merged = apply_input(stack.current, input, new_fields=new_fields_of(self.config))
            if merged is not stack.current:
                stack = stack.replace(merged, input.keys() if input else ())
            if stack is not loaded:
                await self._save(stack)
        status = stack.root.execution_meta.status
        resumed = status in RESUMABLE or status is S.ERROR
        await self._publish(EventType.RESUMED if resumed else EventType.START, stack.root, None)
        return stack

    async def _steps(self, stack: Stack) -> AsyncIterator[StreamChunk]:
        """Step from node to node until the run pauses, stops, fails or ends. Each boundary
        goes through `decide`; the chunks a step made are yielded as soon as it made them."""
        meta = stack.root.execution_meta
        resumed = bool(meta.next_node) and meta.status in (S.INTERRUPTED_BEFORE, S.ERROR, S.STOPPED)
        if meta.status is not S.RUNNING or not _clear(meta):
            stack = stack.with_meta(status=S.RUNNING, **_CLEAR)
        self._start_depth = len(stack.frames)
        self._telling = not self.quiet or self.graph.listened
        prefix = stack.prefix
        try:
            node = local_name(meta.next_node, prefix) or await self._route(
                local_name(meta.current_node, prefix) or START, stack)
        except Exception as exc:
            await self._fail(stack, meta.current_node or join_path(prefix, START), exc, next_node=None)
            return
        steps = 0
        entered = False  # the loop just entered a subgraph: `node` is its first node
        graph = stack.frames[-1].graph if stack.frames else self.graph  # the graph `node` is in
        checkpointer = self.graph.checkpointer
        may_pause = self._may_pause = not self.breakpoints.empty  # breakpoints or stepping: `decide` everywhere
        while True:
            if node == END:
                if not stack.frames:
                    break
                moved = await self._leave(stack)
                if self._pending:
                    for chunk in self._told():
                        yield chunk
                if moved is None or moved[1] is None:  # the run paused, stopped or failed there
                    return
                (stack, node), entered = moved, False
                graph = stack.frames[-1].graph if stack.frames else self.graph
                continue
            path = join_path(stack.prefix, node) if stack.frames else node
            stop = self._stop_asked or (
                checkpointer.stop_may_be_pending() and await checkpointer.aconsume_stop(self.thread_id))
            if stop or may_pause:  # else `decide` has nothing to look at
                at = Outcome(False, path, stack.current, len(stack.frames), entered=entered, resumed=resumed, stop=stop)
                try:
                    pause = decide(at, self.breakpoints, self._start_depth)
                except NodeError as exc:
                    await self._fail(stack, path, exc, next_node=path)
                    return
                if pause is not None:
                    await self._pause_before(stack, path, pause)
                    return
            resumed = entered = False
            spec = graph.nodes[node]
            if type(spec) is Subgraph:
                moved = await self._enter(stack, path, spec)
            elif steps < self.recursion_limit:
                if self._telling:
                    await self._emit(StreamEventType.NODE_START, EventType.NODE_START, stack, path, f"{path} started")
                    for chunk in self._told():
                        yield chunk
                moved = await self._run_node(node, path, spec, stack)
            else:
                await self._fail(stack, path, self._recursion_error(), next_node=path)
                return
            if self._pending:
                for chunk in self._told():
                    yield chunk
            if moved is None or moved[1] is None:  # the run paused, stopped or failed in that node
                return
            if type(spec) is Subgraph:
                entered, graph = True, spec.graph
            else:
                steps += 1
            stack, node = moved
        if stack.root.execution_meta.status is not S.COMPLETED:  # resumed with nothing left to run
            stack = stack.with_meta(status=S.COMPLETED, next_node=None)
            await self._save(stack, last=True)
        self._finish_completed(stack)

    async def _pause_before(self, stack: Stack, path: str, pause: Pause) -> None:
        """Pause or stop before the node at `path`, as `decide` said."""
        if pause.kind == "stop":
            await self._stop(stack, path)
        else:
            await self._pause(stack, path, pause.kind, pause.reason, next_node=path)

    async def _run_node(self, node: str, path: str, callee: Callee, stack: Stack) -> Moved | None:
        """Run `node` (at `path`) and settle where it leaves the thread (see `_done`)."""
        current = stack.current
        working = node_copy(current)
        try:
            if not callee.is_async and not self.inline_sync_nodes:
                result = await callee.call(working, self.config, in_thread=True)
            else:  # an async body, or a sync one on the run's private loop: called right here
                # (`Callee.here`, written out: at every step)
                result = callee.func(working, self.config) if callee.wants_config else callee.func(working)
                if callee.is_async:
                    result = await result
                if type(result) is not dict and awaitable(result):  # what `Callee.call` awaits too
                    result = await result
            new_state, goto, hint, request = apply_node_result(path, self.thread_id, current, working, result)
            if goto is not None:
                self._resolve(stack, node, goto, None)
        except Exception as exc:
            await self._fail(stack, path, exc, next_node=path)
            return None
        moved = await self._done(stack, stack, new_state, node, path, hint.fields, again=path,
                                 goto=goto, request=request, hint=hint)
        if moved is not None and self._telling:
            after = moved[0]
            now = after.current.messages
            fresh = hint.kept if hint.kept is not None else appended_since(current.messages, now)
            for message in now[fresh or 0 :]:
                data = {"role": message.role, "message_id": message.message_id}
                await self._emit(StreamEventType.MESSAGE, None, after, path, message.content, data)
            await self._emit(StreamEventType.NODE_END, EventType.NODE_END, after, path, f"{path} finished")
        return moved

    async def _done(
        self, before: Stack, base: Stack, state: AgentState, node: str, path: str, touched: Iterable[str] | None,
        *, again: str, goto: str | None = None, request: ExecutionMeta | None = None, hint: Touched | None = None,
    ) -> Moved | None:
        """`node` (at `path`) finished, leaving `state` at the level of `base`: `decide` whether
        to pause there, else route and save. Returns the stack and the next node (None when the
        run ends at this node), or None when the node's result is not kept: it asked to run
        again (`set_interrupt(..., INTERRUPTED_BEFORE)`) or saving failed; the thread then
        stays at `before`, to go on with `again`."""
        # the thread's metadata is RUNNING with no pause or error in it all through the loop: only
        # the position and the step change
        stack = base.advance(state, touched, {
            "current_node": path, "next_node": goto and join_path(base.prefix, goto),
            "step": base.root.execution_meta.step + 1,
        })
        following = goto and join_path(stack.prefix, goto)
        try:
            pause = None if request is None and not self._may_pause else decide(  # else nothing to look at
                Outcome(True, path, stack.current, len(stack.frames), request=request),
                self.breakpoints, self._start_depth)
        except NodeError as exc:
            await self._fail(stack, path, exc, next_node=following)
            return self.stack or stack, None
        try:
            if pause is None:
                try:
                    target = goto or self._next(node, stack)
                    if type(target) is CoroutineType:  # an async router's answer
                        target = await target
                except Exception as exc:
                    await self._fail(stack, path, exc, next_node=None)
                    return self.stack or stack, None
                if target == END and not stack.frames:  # one checkpoint for the last step, marked completed
                    stack = stack.with_meta(status=S.COMPLETED, next_node=None)
                await self._save(stack, hint=hint, last=target == END and not stack.frames)
                return stack, target
            if request is not None and request.status is S.INTERRUPTED_BEFORE:
                await self._pause(before, path, pause.kind, pause.reason, next_node=again, request=request)
                return None
            await self._pause(stack, path, pause.kind, pause.reason, next_node=following, request=request, hint=hint)
        except (PydanticSerializationError, UnsaveableValueError) as exc:
            await self._fail(before, path, self._unsaveable(path, exc), next_node=again)
            return None
        return self.stack or stack, None

    # -- subgraphs ------------------------------------------------------------------------

    async def _enter(self, stack: Stack, path: str, spec: Subgraph) -> Moved | None:
        """Start the subgraph node at `path`: a new frame, and the subgraph's first node."""
        await self._emit(StreamEventType.NODE_START, EventType.NODE_START, stack, path, f"{path} started")
        try:
            state = spec.start(stack.current, self.thread_id)
            state = state.model_copy(update={"execution_meta": stack.root.execution_meta})
            inner = stack.push(Frame(path, state, spec.graph, spec.share_messages))
            first = await self._route(START, inner)
        except Exception as exc:
            await self._fail(stack, path, exc, next_node=path)
            return None
        return inner, first

    async def _leave(self, stack: Stack) -> Moved | None:
        """The innermost subgraph reached its END: pass its results to the parent, and go on
        there as after any node."""
        parent, frame = stack.pop()
        path, node = frame.path, split_path(frame.path)[-1]
        retry = join_path(path, END)  # on failure, invoking again retries passing the results out
        spec = parent.graph(self.graph).subgraphs[node]
        try:
            updates = spec.finish(frame.state, parent.current, frame.changed)
            state, _ = apply_result(path, self.thread_id, parent.current, updates)
        except Exception as exc:
            await self._fail(stack, path, exc, next_node=retry)
            return None
        moved = await self._done(stack, parent, state, node, path, updates.keys(), again=retry)
        if moved is not None:
            await self._emit(StreamEventType.NODE_END, EventType.NODE_END, moved[0], path, f"{path} finished")
        return moved
