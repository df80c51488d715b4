"""`CompiledGraph`: run, stream, stop, inspect and edit threads of a compiled `StateGraph`
(inspecting and editing: `agentflow_nb.graph.editing`)."""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentflow_nb import _sync
from agentflow_nb.checkpointer.base import BaseCheckpointer, Checkpoint
from agentflow_nb.checkpointer.codec import prepare as prepare_codec
from agentflow_nb.checkpointer.memory import InMemoryCheckpointer
from agentflow_nb.errors import GraphError
from agentflow_nb.graph.breakpoints import Breakpoints
from agentflow_nb.graph.chunks import StreamChunk
from agentflow_nb.graph.config import Config, run_config
from agentflow_nb.graph.config import recursion_limit as _recursion_limit
from agentflow_nb.graph.config import thread_id as _thread_id
from agentflow_nb.graph.editing import ThreadEditing
from agentflow_nb.graph.frames import unpack
from agentflow_nb.graph.paths import join_path, split_path
from agentflow_nb.graph.run import GraphRun
from agentflow_nb.graph.subgraph import Subgraph, check_path
from agentflow_nb.graph.updates import apply_input, new_state, node_copy, with_meta
from agentflow_nb.publisher.events import EventModel, EventType
from agentflow_nb.state import AgentState

if TYPE_CHECKING:
    from agentflow_nb.graph.state_graph import StateGraph
    from agentflow_nb.publisher import BasePublisher

__all__ = ["CompiledGraph"]

log = logging.getLogger("agentflow_nb")
#: How many threads a compiled graph remembers where its last run left them (see `aload`).
KEPT = 256


class CompiledGraph(ThreadEditing):
    """A runnable graph. Every method has a sync and an async (`a...`) twin.

    The sync twins run on one background event-loop thread, so they also work inside a
    running loop such as a notebook cell. A *plain* graph — sync nodes, routers and publishers,
    and a checkpointer bound to no loop — run from a thread without a loop (a script, a web
    server's worker) runs right in the calling thread instead, nodes included: no thread hops.
    """

    def __init__(
        self,
        builder: StateGraph,
        *,
        checkpointer: BaseCheckpointer | None,
        interrupt_before: Sequence[str],
        interrupt_after: Sequence[str],
        publisher: BasePublisher | Sequence[BasePublisher] | None,
    ) -> None:
        #: Whether `compile()` was given a checkpointer (a subgraph must not be: it uses its parent's).
        self.checkpointer_given = checkpointer is not None
        if checkpointer is None:
            checkpointer = InMemoryCheckpointer()
        if not isinstance(checkpointer, BaseCheckpointer):
            raise TypeError(
                f"checkpointer must be a `BaseCheckpointer` such as `InMemoryCheckpointer()`, "
                f"got a `{type(checkpointer).__name__}`"
            )
        publishers = () if publisher is None else publisher
        if not isinstance(publishers, Sequence):
            publishers = (publishers,)
        for item in publishers:
            if not callable(getattr(item, "publish", None)):
                raise TypeError(
                    f"publisher `{item!r}` has no `publish(event)` method; subclass `BasePublisher`"
                )
        self.builder = builder
        self.schema = builder.schema
        self.nodes = dict(builder.nodes)
        self.edges = {k: list(v) for k, v in builder.edges.items()}
        self.branches = dict(builder.branches)
        self.checkpointer = checkpointer
        #: Subgraph nodes by name.
        self.subgraphs: dict[str, Subgraph] = {k: v for k, v in self.nodes.items() if isinstance(v, Subgraph)}
        #: Node paths to pause before / after: those given to `compile()`, then each subgraph's
        #: own under its path (`"WRITER/REVIEW"`). Per-run breakpoints in `config` replace them all.
        self.interrupt_before = self._interrupts("interrupt_before", interrupt_before)
        self.interrupt_after = self._interrupts("interrupt_after", interrupt_after)
        self.publishers: tuple[BasePublisher, ...] = tuple(publishers)
        self._failing: set[int] = set()  # publishers whose traceback was logged once already
        self._inner_publishers = {path: sub for path, sub in self.walk() if path and sub.publishers}
        #: Whether any publisher, here or in a subgraph, hears of this graph's runs.
        self.listened = bool(self.publishers or self._inner_publishers)
        self.plain = _plain(self)
        self._kept: dict[str, Checkpoint] = {}  # per thread: where its last run here ended (see `aload`)
        self._kept_lock = threading.Lock()
        #: Whether the store can confirm a kept checkpoint is still the newest (`ahead`); if
        #: not (PostgreSQL), keeping one would be work for nothing.
        self._keeps = type(checkpointer).ahead is not BaseCheckpointer.ahead
        prepare_codec(self.schema)  # a process's first save or load then need not wait for it
        self._breakpoints: Breakpoints | None = None  # the compiled ones, built at the first run

    # -- running --------------------------------------------------------------------------

    def iter(self, input: Mapping[str, Any] | None, config: Config | None = None) -> GraphRun:
        """Start a run as an async iterator of `StreamChunk`s: the one stepping primitive.

        Besides `thread_id` and `recursion_limit`, `config` may override the breakpoints of this
        run: `interrupt_before` / `interrupt_after` (node paths, or a dict of node path to a
        condition `f(state) -> bool`), and `step` to pause after the next node: `True` or
        `"over"` (a subgraph node runs whole), `"into"` (also before a subgraph's first node),
        `"out"` (after the subgraph the thread is paused in ends).
        """
        cfg = run_config(config)
        if "interrupt_before" in cfg or "interrupt_after" in cfg or "step" in cfg:
            breakpoints = Breakpoints.build(
                self,
                cfg.get("interrupt_before", self.interrupt_before),
                cfg.get("interrupt_after", self.interrupt_after),
                step=cfg.get("step"),
            )
        else:  # the graph's own, checked once (a `Breakpoints` is never changed)
            breakpoints = self._breakpoints or self._own_breakpoints()
        return GraphRun(self, input, cfg, breakpoints, _recursion_limit(cfg))

    def _own_breakpoints(self) -> Breakpoints:
        self._breakpoints = Breakpoints.build(self, self.interrupt_before, self.interrupt_after)
        return self._breakpoints

    async def ainvoke(self, input: Mapping[str, Any] | None, config: Config | None = None) -> dict[str, Any]:
        """Run until a pause, a stop, an error or the end; return the result dict.

        Raises:
            NodeError: a node failed (the thread is saved with status `ERROR`).
            pydantic.ValidationError: the input does not fit the state schema (nothing saved).
        """
        return await _drain(self.iter(input, config))

    def invoke(self, input: Mapping[str, Any] | None, config: Config | None = None) -> dict[str, Any]:
        """Sync twin of `ainvoke`.

        Ctrl-C stops the run at the next node boundary (the node in flight finishes and is
        saved), then raises `KeyboardInterrupt`; invoking the thread again goes on from there.
        A second Ctrl-C interrupts at once.
        """
        run = self.iter(input, config)
        ctrl_c = _sync.CtrlC(run.request_stop)
        if self._runs_here(run):
            return _sync.run_here(_drain(run), ctrl_c)
        return _sync.run(_drain(run), ctrl_c)

    def astream(self, input: Mapping[str, Any] | None, config: Config | None = None) -> GraphRun:
        """Run and yield `StreamChunk`s as they happen; an interrupt always ends with a chunk."""
        return self.iter(input, config)

    def stream(self, input: Mapping[str, Any] | None, config: Config | None = None) -> Iterator[StreamChunk]:
        """Sync twin of `astream`; Ctrl-C as for `invoke`."""
        return self._iterate(self.iter(input, config))

    def _iterate(self, run: GraphRun) -> Iterator[StreamChunk]:
        # decided when the iteration starts, in the thread that iterates
        ctrl_c = _sync.CtrlC(run.request_stop)
        yield from _sync.iterate_here(run, ctrl_c) if self._runs_here(run) else _sync.iterate(run, ctrl_c)

    def _runs_here(self, run: GraphRun) -> bool:
        """Whether a sync call drives `run` right in this thread, its sync nodes inline."""
        run.inline_sync_nodes = self.plain and _sync.free()
        return run.inline_sync_nodes

    def check_breakpoints(self, before: Any = (), after: Any = (), *, step: bool = False) -> Breakpoints:
        """Breakpoints for a run of this graph, checked: `before` / `after` are node names or a
        dict of node name to a condition `f(state) -> bool` (or None: always).

        Raises:
            GraphError: a name is not a node of this graph (with a did-you-mean).
            TypeError: a condition is not callable.
        """
        return Breakpoints.build(self, before, after, step=step)

    async def ais_running(self, config: Config) -> bool:
        """True while a run (in this process, or another one sharing the store) holds the thread."""
        return await self.checkpointer.ais_running(_thread_id(config, "is_running"))

    def is_running(self, config: Config) -> bool:
        """Sync twin of `ais_running`."""
        return _sync.run(self.ais_running(config))

    async def astop(self, config: Config) -> dict[str, Any]:
        """Ask a running thread to stop at its next node boundary.

        Returns `{"thread_id", "ok", "running", "status"}` with status `"stop_requested"`,
        `"not_running"` or `"unknown_thread"`; `ok` is True only when a stop was requested.
        """
        thread_id = _thread_id(config, "stop")
        if await self.checkpointer.arequest_stop(thread_id):
            return {"thread_id": thread_id, "ok": True, "running": True, "status": "stop_requested"}
        known = thread_id in await self.checkpointer.athreads()
        status = "not_running" if known else "unknown_thread"
        return {"thread_id": thread_id, "ok": False, "running": False, "status": status}

    def stop(self, config: Config) -> dict[str, Any]:
        """Sync twin of `astop`; safe to call from any thread."""
        return _sync.run(self.astop(config))

    # -- drawing ----------------------------------------------------------------------------

    def draw(self, expand: Iterable[str] | bool | None = None) -> Any:
        """The graph's drawing (`agentflow_nb.render.Drawing`); needs Graphviz's `dot`.

        Subgraphs are drawn as clusters holding their nodes, or closed as one node each:
        `expand` lists the subgraph paths to draw open (`True`: all, `False`: none); by default
        all are open in a graph of at most 40 nodes, subgraphs' included.
        """
        from agentflow_nb.render import Drawing

        return Drawing.of(self, expand)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return self.draw()._repr_mimebundle_(include, exclude)

    # -- nested graphs --------------------------------------------------------------------

    def walk(self, prefix: str = "") -> Iterator[tuple[str, CompiledGraph]]:
        """This graph and every subgraph in it at any depth, each with its path (`""` for this
        one), parents before their subgraphs. A subgraph used twice appears under both paths."""
        yield prefix, self
        for name, sub in self.subgraphs.items():
            yield from sub.graph.walk(join_path(prefix, name))

    def graph_at(self, path: str) -> CompiledGraph:
        """The subgraph at `path` (`"WRITER"`, `"WRITER/CRITIC"`); this graph for `""`.

        Raises:
            GraphError: no subgraph node is at `path`.
        """
        graph = self
        for depth, part in enumerate(split_path(path)):
            sub = graph.subgraphs.get(part)
            if sub is None:
                where = f"`{'/'.join(split_path(path)[:depth])}`" if depth else "the graph"
                raise GraphError(
                    f"`{path}` is not a subgraph: {where} has no subgraph node `{part}`; its "
                    f"subgraphs are {', '.join(f'`{p}`' for p, _ in self.walk() if p) or '(none)'}"
                )
            graph = sub.graph
        return graph

    def check_names(self, what: str, names: Iterable[str]) -> tuple[str, ...]:
        """`names` as a tuple, or `GraphError` for the first that is not a node of this compiled
        graph; a name may be a path to a node inside a subgraph (`"WRITER/REVIEW"`)."""
        names = (names,) if isinstance(names, str) else tuple(names)
        for name in names:
            check_path(self.nodes, what, name)
        return names

    def _interrupts(self, what: str, names: Iterable[str]) -> tuple[str, ...]:
        own = self.check_names(what, names)
        inner = [join_path(name, path) for name, sub in self.subgraphs.items()
                 for path in getattr(sub.graph, what)]
        return tuple(dict.fromkeys([*own, *inner]))

    # -- used by runs ---------------------------------------------------------------------

    async def aload(self, thread_id: str, checkpoint_id: str | None = None) -> Checkpoint | None:
        """The thread's newest checkpoint (or the one named), frames decoded; None if none.

        The newest comes from where this graph's last run of the thread ended when the store
        confirms that is still the newest (`BaseCheckpointer.ahead`), as a fresh copy: a
        resume then costs no decoding, and another process's write is always seen.
        """
        if checkpoint_id is None:
            kept = self._kept.get(thread_id)
            if kept is not None and await self.checkpointer.ahead(thread_id) == kept.checkpoint_id:
                return kept._replace(state=node_copy(kept.state))
        found = await self.checkpointer.aget(thread_id, checkpoint_id, schema=self.schema)
        return None if found is None else unpack(self, found)

    def keep(self, thread_id: str, checkpoint: Checkpoint | None) -> None:
        """Remember `checkpoint`, just saved by a run as the thread's newest (a private copy),
        for `aload`; or, with None, forget the thread. The newest `KEPT` threads are kept."""
        if not self._keeps:
            return
        if checkpoint is not None:
            state = node_copy(checkpoint.state)
            # messages are frozen but their metadata dicts are not: the run's caller holds the same
            # message objects, and an edit of one's metadata must not reach the next resume
            state.__dict__["messages"] = [m.model_copy(deep=True) if m.metadata else m for m in state.messages]
            checkpoint = checkpoint._replace(state=state)
        kept = self._kept
        with self._kept_lock:  # runs of other threads of this graph may end in other OS threads
            kept.pop(thread_id, None)
            if checkpoint is not None:
                while len(kept) >= KEPT:  # forget the thread kept longest ago
                    del kept[next(iter(kept))]
                kept[thread_id] = checkpoint

    def new_state(self, thread_id: str, input: Mapping[str, Any] | None = None) -> AgentState:
        """The state a new thread starts from, `input` merged in (any field allowed): the initial
        state given to `StateGraph`, else the schema built from the input's fields (so required
        fields can come from it).

        Raises: as `apply_input`.
        """
        initial = self.builder.initial_state
        if initial is None:
            return new_state(self.schema, thread_id, input)
        return apply_input(with_meta(initial.model_copy(deep=True), thread_id=thread_id), input, new_fields=True)

    async def publish(self, event: EventModel) -> None:
        """Hand `event` to each publisher (a fresh copy each); a failing one is only logged."""
        if not self.publishers:
            return
        copies = [event, *(event.model_copy(deep=True) for _ in self.publishers[1:])]
        for publisher, fresh in zip(self.publishers, copies, strict=True):
            try:
                outcome = publisher.publish(fresh)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception as exc:
                first = id(publisher) not in self._failing
                self._failing.add(id(publisher))
                log.error("publisher %r failed on a %s event (%s: %s); the run goes on",
                          publisher, event.event_type.value, type(exc).__name__, exc, exc_info=first)

    async def emit(
        self, kind: EventType, state: AgentState, *, node: str | None = None, content: str = "",
        data: dict[str, Any] | None = None, run_id: str | None = None,
    ) -> None:
        """Publish an event about `state` (the thread's root state) at node path `node`: to this
        graph's publishers, and to those of each subgraph `node` is inside. Builds nothing when
        there is no publisher."""
        inner = _inside(self._inner_publishers, node) if self._inner_publishers and node else ()
        if not self.publishers and not inner:
            return
        meta = state.execution_meta
        event = EventModel(
            event_type=kind, node_name=node, thread_id=meta.thread_id, run_id=run_id, step=meta.step,
            content=content, metadata={"status": meta.status.value}, data=dict(data or {}),
        )
        await self.publish(event)
        for sub in inner:
            await sub.publish(event.model_copy(deep=True))


async def _drain(run: GraphRun) -> dict[str, Any]:
    run.quiet = True  # only the result is wanted: the steps make no chunks
    async for _ in run:
        pass
    return run.result()


def _plain(graph: CompiledGraph) -> bool:
    """True when no part of a run needs one particular event loop, nor a worker thread's help."""
    graphs = [sub for _, sub in graph.walk()]
    callees = [callee for g in graphs for callee in g.nodes.values() if not isinstance(callee, Subgraph)]
    callees += [branch.router for g in graphs for branch in g.branches.values()]
    return (
        graph.checkpointer.any_loop
        and not any(callee.is_async for callee in callees)
        and not any(inspect.iscoroutinefunction(p.publish) for g in graphs for p in g.publishers)
    )


def _inside(publishers: dict[str, Any], node: str) -> list[CompiledGraph]:
    """The subgraphs with publishers that node path `node` is inside."""
    return [graph for path, graph in publishers.items() if node.startswith(path + "/")]
