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
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic_core import PydanticSerializationError

from agentflow_nb.checkpointer.base import appended_since
from agentflow_nb.errors import NodeError, UnknownThreadError, UnsaveableValueError, name_list
from agentflow_nb.graph.breakpoints import Breakpoints
from agentflow_nb.graph.chunks import StreamChunk, StreamEventType
from agentflow_nb.graph.command import END, START
from agentflow_nb.graph.frames import Frame, Stack
from agentflow_nb.graph.paths import join_path, local_name, split_path
from agentflow_nb.graph.record import _CLEAR, Recorder
from agentflow_nb.graph.subgraph import Subgraph
from agentflow_nb.graph.updates import (
    Touched,
    apply_input,
    apply_result,
    interrupt_request,
    new_fields_of,
    node_copy,
    own_thread,
    touched,
)
from agentflow_nb.publisher.events import EventType
from agentflow_nb.state import RESUMABLE, AgentState, ExecutionStatus

if TYPE_CHECKING:
    from agentflow_nb.graph.compiled import CompiledGraph
    from agentflow_nb.graph.nodes import Callee

__all__ = ["GraphRun"]

log = logging.getLogger("agentflow_nb")
S = ExecutionStatus
Item = StreamChunk | tuple[Stack, str | None]


class GraphRun(Recorder):
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
        self._stop_asked = False
        self._start_depth = 0  # how deep in subgraphs the run began: where "step over/out" stop

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
        assert self._final is not None
        await self._publish_final()
        yield self._final
        if self._error is not None:
            raise self._error

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
        loaded = stack = Stack(graph.new_state(self.thread_id, input))
        if latest is not None:  # a copied thread file still names its old thread: this run's wins
            loaded = stack = Stack(own_thread(latest.state, self.thread_id), latest.frames)
            self._remember(stack, latest.checkpoint_id)
            if stack.root.execution_meta.status is S.COMPLETED:
                if not input:
                    self._finish_completed(stack)
                    return None
                stack = stack.with_meta(status=S.RUNNING, current_node=None, next_node=None, **_CLEAR)
        # the input that starts a thread may bring any fields; later ones only known or named ones
        merged = apply_input(stack.current, input, new_fields=True if latest is None else new_fields_of(self.config))
        if merged is not stack.current:
            stack = stack.replace(merged, input.keys() if input else ())
        if latest is None or stack is not loaded:
            await self._save(stack)
        status = stack.root.execution_meta.status
        resumed = status in RESUMABLE or status is S.ERROR
        await self._publish(EventType.RESUMED if resumed else EventType.START, stack.root, None)
        return stack

    async def _steps(self, stack: Stack) -> AsyncIterator[StreamChunk]:
        meta = stack.root.execution_meta
        skip_before = bool(meta.next_node) and meta.status in (S.INTERRUPTED_BEFORE, S.ERROR, S.STOPPED)
        stack = stack.with_meta(status=S.RUNNING, **_CLEAR)
        self._start_depth = len(stack.frames)
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
        while True:
            if node == END:
                if not stack.frames:
                    break
                following: str | None = None
                async for item in self._leave(stack):
                    if isinstance(item, StreamChunk):
                        yield item
                    else:
                        stack, following = item
                if following is None:  # the run paused, stopped or failed there
                    return
                node, entered = following, False
                graph = stack.frames[-1].graph if stack.frames else self.graph
                continue
            path = join_path(stack.prefix, node) if stack.frames else node
            if not skip_before:
                fired = await self._check(self.breakpoints.fires_before, path, stack, next_node=path)
                if fired is None:
                    return
                if fired or (entered and self.breakpoints.steps_into()):
                    label = "interrupt_before" if fired else "step"
                    await self._pause(stack, path, "before", f"{label}: {path}", next_node=path)
                    return
            skip_before = entered = False
            if self._stop_asked or await self.graph.checkpointer.aconsume_stop(self.thread_id):
                await self._stop(stack, path)
                return
            spec = graph.nodes[node]
            if type(spec) is Subgraph:
                step = self._enter(stack, path, spec)
            elif steps < self.recursion_limit:
                step = self._run_node(node, path, spec, stack)
            else:
                await self._fail(stack, path, self._recursion_error(), next_node=path)
                return
            following = None
            async for item in step:
                if isinstance(item, StreamChunk):
                    yield item
                else:
                    stack, following = item
            if following is None:  # the run paused, stopped or failed in that node
                return
            if type(spec) is Subgraph:
                entered, graph = True, spec.graph
            else:
                steps += 1
            node = following
        if stack.root.execution_meta.status is not S.COMPLETED:  # resumed with nothing left to run
            stack = stack.with_meta(status=S.COMPLETED, next_node=None)
            await self._save(stack)
        self._finish_completed(stack)

    async def _run_node(self, node: str, path: str, callee: Callee, stack: Stack) -> AsyncIterator[Item]:
        """Run `node` (at `path`), save where it leaves the thread, then yield its chunks and
        `(stack, next node)` (next node None when the run ends here)."""
        yield await self._emit(StreamEventType.NODE_START, EventType.NODE_START, stack, path, f"{path} started")
        current = stack.current
        working = node_copy(current)
        try:
            result = await callee.call(working, self.config, in_thread=not self.inline_sync_nodes)
            new_state, goto = apply_result(path, self.thread_id, current, result)
            hint = touched(current, result)
            request = interrupt_request(working, result)
            if goto is not None:
                self._resolve(stack, node, goto, None, what="Command(goto=...)")
        except Exception as exc:
            await self._fail(stack, path, exc, next_node=path)
            return
        if request is not None and request.status is S.INTERRUPTED_BEFORE:
            reason = request.interrupt_reason or f"{path} asked to pause"
            await self._pause(stack, path, "node", reason, next_node=path, request=request)
            return
        stack, following = await self._done(stack, stack, new_state, node, path, hint.fields, again=path,
                                             goto=goto, request=request, hint=hint)
        if stack is None:
            return
        now = stack.current.messages
        fresh = hint.kept if hint.kept is not None else appended_since(current.messages, now)
        for message in now[fresh or 0 :]:
            data = {"role": message.role, "message_id": message.message_id}
            yield await self._emit(StreamEventType.MESSAGE, None, stack, path, message.content, data)
        yield await self._emit(StreamEventType.NODE_END, EventType.NODE_END, stack, path, f"{path} finished")
        yield stack, following

    async def _done(
        self, before: Stack, base: Stack, state: AgentState, node: str, path: str, touched: Iterable[str] | None,
        *, again: str, goto: str | None = None, request: Any = None, hint: Touched | None = None,
    ) -> tuple[Stack | None, str | None]:
        """`node` (at `path`) finished, leaving `state` at the level of `base`: where that leaves
        the thread, saved or paused at, and the next node. `(None, None)` when saving failed; the
        thread then stays at `before`, to go on with `again`."""
        stack = base.advance(state, touched, {
            "status": S.RUNNING, "current_node": path, "next_node": goto and join_path(base.prefix, goto),
            "step": base.root.execution_meta.step + 1, **_CLEAR,
        })
        try:
            following = await self._settle(node, path, stack, goto, request, hint)
        except (PydanticSerializationError, UnsaveableValueError) as exc:
            await self._fail(before, path, self._unsaveable(path, exc), next_node=again)
            return None, None
        return self.stack or stack, following

    async def _settle(
        self, node: str, path: str, stack: Stack, goto: str | None, request: Any, hint: Touched | None
    ) -> str | None:
        """After `node` (at `path`) ran, or the subgraph there ended: pause, or route and save.
        The next node, or None if the run ends."""
        following = goto and join_path(stack.prefix, goto)
        if request is not None:
            reason = request.interrupt_reason or f"{path} asked to pause"
            await self._pause(stack, path, "node", reason, next_node=following, request=request)
            return None
        fired = await self._check(self.breakpoints.fires_after, path, stack, next_node=following)
        if fired is None:
            return None
        breakpoints = self.breakpoints
        stepped = breakpoints.step is not None and breakpoints.steps_after(len(stack.frames), self._start_depth)
        if fired or stepped:
            label = "step" if stepped else "interrupt_after"
            await self._pause(stack, path, "after", f"{label}: {path}", next_node=following)
            return None
        try:
            target = goto or await self._route(node, stack)
        except Exception as exc:
            await self._fail(stack, path, exc, next_node=None)
            return None
        if target == END and not stack.frames:  # one checkpoint for the last step, already marked completed
            stack = stack.with_meta(status=S.COMPLETED, next_node=None)
        await self._save(stack, hint=hint)
        return target

    # -- subgraphs ------------------------------------------------------------------------

    async def _enter(self, stack: Stack, path: str, spec: Subgraph) -> AsyncIterator[Item]:
        """Start the subgraph node at `path`: a new frame, and the subgraph's first node."""
        yield await self._emit(StreamEventType.NODE_START, EventType.NODE_START, stack, path, f"{path} started")
        try:
            state = spec.start(stack.current, self.thread_id)
            state = state.model_copy(update={"execution_meta": stack.root.execution_meta})
            inner = stack.push(Frame(path, state, spec.graph, spec.share_messages))
            first = await self._route(START, inner)
        except Exception as exc:
            await self._fail(stack, path, exc, next_node=path)
            return
        yield inner, first

    async def _leave(self, stack: Stack) -> AsyncIterator[Item]:
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
            return
        after, following = await self._done(stack, parent, state, node, path, updates.keys(), again=retry)
        if after is None:
            return
        yield await self._emit(StreamEventType.NODE_END, EventType.NODE_END, after, path, f"{path} finished")
        yield after, following

    # -- routing --------------------------------------------------------------------------

    async def _route(self, source: str, stack: Stack) -> str:
        graph = stack.frames[-1].graph if stack.frames else self.graph
        branch = graph.branches.get(source)
        if branch is None:
            targets = graph.edges.get(source)
            if not targets:
                path = join_path(stack.prefix, source)
                raise NodeError(
                    f"node `{path}` has no edge out and returned no `Command(goto=...)`",
                    node=path, thread_id=self.thread_id,
                )
            return targets[0]
        key = await branch.router.call(stack.current, self.config, in_thread=False)
        return self._resolve(stack, source, key, branch.path_map, what=f"router `{branch.router.name}`")

    def _resolve(
        self, stack: Stack, source: str, key: Any, path_map: dict[Any, str] | None, *, what: str
    ) -> str:
        if path_map is not None:
            try:
                if key in path_map:
                    return path_map[key]
            except TypeError:  # unhashable key
                pass
        graph = stack.frames[-1].graph if stack.frames else self.graph
        if key == END or key in graph.nodes:
            return key
        valid = list(path_map or ()) or [*graph.nodes, END]
        path = join_path(stack.prefix, source)
        raise NodeError(
            f"{what} of `{path}` returned `{key!r}`; expected one of {name_list(map(str, valid))}",
            node=path, thread_id=self.thread_id,
        )

    async def _check(self, fires: Any, node: str, stack: Stack, *, next_node: str | None) -> bool | None:
        """Evaluate a breakpoint; None when its condition raised (the run then ends in ERROR)."""
        try:
            return bool(fires(node, stack.current))
        except Exception as exc:
            error = NodeError(
                f"the breakpoint condition on `{node}` raised {type(exc).__name__}: {exc}",
                node=node, thread_id=self.thread_id,
            )
            error.__cause__ = exc
            await self._fail(stack, node, error, next_node=next_node)
            return None
