"""`StateGraph`: add nodes and edges, then `compile()` into a runnable `CompiledGraph`.

Example:
    >>> from agentflow_nb.graph import END, START, StateGraph
    >>> graph = StateGraph()
    >>> graph.add_node("GREET", lambda state: "hello")  # doctest: +ELLIPSIS
    <agentflow_nb.graph.state_graph.StateGraph object at ...>
    >>> graph.add_edge(START, "GREET").add_edge("GREET", END)  # doctest: +ELLIPSIS
    <agentflow_nb.graph.state_graph.StateGraph object at ...>
    >>> app = graph.compile()
    >>> app.invoke({"messages": []}, config={"thread_id": "t"})["messages"][-1].content
    'hello'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentflow_nb.errors import GraphError, name_list, unknown_node
from agentflow_nb.graph.command import END, START
from agentflow_nb.graph.nodes import Callee, PathMap
from agentflow_nb.graph.paths import SEP
from agentflow_nb.graph.subgraph import Subgraph, check_path
from agentflow_nb.state import AgentState

if TYPE_CHECKING:
    from agentflow_nb.checkpointer.base import BaseCheckpointer
    from agentflow_nb.graph.compiled import CompiledGraph
    from agentflow_nb.publisher import BasePublisher

__all__ = ["Branch", "StateGraph"]


@dataclass(frozen=True)
class Branch:
    """Conditional edges out of one node: `router(state)` picks the next node."""

    router: Callee
    path_map: dict[Any, str] | None


class StateGraph:
    """A graph of nodes that pass an `AgentState` along.

    Args:
        state: the `AgentState` subclass to use (or an instance: the initial state of new
            threads). Default `AgentState`.
        publisher: a publisher for every run of graphs compiled from this one.
    """

    def __init__(
        self,
        state: type[AgentState] | AgentState | None = None,
        publisher: BasePublisher | None = None,
    ) -> None:
        if state is None:
            state = AgentState
        if isinstance(state, AgentState):
            self.schema: type[AgentState] = type(state)
            self.initial_state: AgentState | None = state.model_copy(deep=True)
        elif isinstance(state, type) and issubclass(state, AgentState):
            self.schema, self.initial_state = state, None
        else:
            raise GraphError(
                f"StateGraph(state=...) takes an `AgentState` subclass or instance, "
                f"got `{state!r}`; define `class MyState(AgentState): ...`"
            )
        self.publisher = publisher
        self.nodes: dict[str, Callee | Subgraph] = {}
        self.node_ends: dict[str, tuple[str, ...]] = {}
        self.edges: dict[str, list[str]] = {}
        self.branches: dict[str, Branch] = {}

    def add_node(
        self,
        name: str | Callable[..., Any],
        func: Callable[..., Any] | CompiledGraph | None = None,
        *,
        ends: Sequence[str] = (),
        input: Mapping[str, str] | None = None,
        output: Mapping[str, str] | None = None,
        share_messages: bool = True,
    ) -> StateGraph:
        """Add a node: `add_node("NAME", func)` or `add_node(func)` (named `func.__name__`).

        `func` may be a compiled graph: a subgraph that runs as this one node, under this
        graph's thread and checkpointer (see `Subgraph` for how state passes in and out, and
        `input`, `output`, `share_messages`). `ends` names where a node that routes itself
        with `Command(goto=...)` may go.
        """
        from agentflow_nb.graph.compiled import CompiledGraph

        if func is None:
            if not callable(name):
                raise GraphError(f"add_node(`{name}`) needs a function: add_node(name, func)")
            func, name = name, getattr(name, "__name__", "")
        if not isinstance(name, str) or not name:
            raise GraphError(f"node names are non-empty strings, got `{name!r}`")
        if name in (START, END):
            raise GraphError(f"`{name}` is reserved for START/END; choose another node name")
        if SEP in name:
            raise GraphError(
                f"node name `{name}` contains `{SEP}`, which separates the parts of a path to a node "
                f"inside a subgraph (`WRITER{SEP}REVIEW`); choose another name"
            )
        if name in self.nodes:
            raise GraphError(f"node `{name}` is already in the graph; node names are unique")
        if isinstance(func, CompiledGraph):
            self.nodes[name] = Subgraph.of(name, func, input=input, output=output, share_messages=share_messages)
        elif input is not None or output is not None or share_messages is not True:
            raise GraphError(
                f"`input`, `output` and `share_messages` are for a subgraph node (a compiled graph); "
                f"`{name}` is a function"
            )
        else:
            self.nodes[name] = Callee.of(name, func)
        if ends:
            self.node_ends[name] = tuple(ends)
        return self

    def add_edge(self, source: str, target: str) -> StateGraph:
        """Always go from `source` to `target` (`START` and `END` allowed)."""
        if source == END or target == START:
            raise GraphError(f"an edge cannot leave `END` or enter `START` (`{source}` -> `{target}`)")
        self.edges.setdefault(source, []).append(target)
        return self

    def add_conditional_edges(
        self,
        source: str,
        router: Callable[..., Any],
        path_map: PathMap | Iterable[str] | None = None,
    ) -> StateGraph:
        """From `source`, go where `router(state)` says: a node name, `END`, or a key of `path_map`."""
        if source in self.branches:
            raise GraphError(f"`{source}` already has conditional edges; give it one router")
        if path_map is not None and not isinstance(path_map, dict):
            path_map = {name: name for name in path_map}
        name = getattr(router, "__name__", "router")
        self.branches[source] = Branch(Callee.of(name, router), path_map)
        return self

    def set_entry_point(self, name: str) -> StateGraph:
        """Start runs at `name` (same as `add_edge(START, name)`)."""
        return self.add_edge(START, name)

    def set_finish_point(self, name: str) -> StateGraph:
        """End runs after `name` (same as `add_edge(name, END)`)."""
        return self.add_edge(name, END)

    def compile(
        self,
        checkpointer: BaseCheckpointer | None = None,
        interrupt_before: Iterable[str] = (),
        interrupt_after: Iterable[str] = (),
        publisher: BasePublisher | None = None,
    ) -> CompiledGraph:
        """Check the graph and make it runnable.

        A graph with no edges at all is wired in the order its nodes were added, from START to
        END (so a plain pipeline needs no `add_edge` calls).

        Raises:
            GraphError: an unknown node name anywhere, no entry point, a node with no way out,
                a node that cannot be reached, or a subgraph node that cannot run here (its own
                checkpointer, fields that cannot pass); the message names it and the fix.
        """
        from agentflow_nb.graph.compiled import CompiledGraph

        if self.nodes and not (self.edges or self.branches or self.node_ends):
            self._chain_nodes()
        self._validate()
        return CompiledGraph(
            self,
            checkpointer=checkpointer,
            interrupt_before=_names(interrupt_before),
            interrupt_after=_names(interrupt_after),
            publisher=publisher or self.publisher,
        )

    def _chain_nodes(self) -> None:
        """Wire an edgeless graph START -> first -> ... -> last -> END, in the order added."""
        order = [START, *self.nodes, END]
        for source, target in zip(order, order[1:], strict=False):
            self.add_edge(source, target)

    def check_names(self, what: str, names: Iterable[str]) -> tuple[str, ...]:
        """Return `names` as a tuple, or raise `GraphError` for the first that names no node.
        A name may be a path to a node inside a subgraph (`"WRITER/REVIEW"`)."""
        names = _names(names)
        for name in names:
            check_path(self.nodes, what, name)
        return names

    def _require_node(self, what: str, name: object, *, allow: Sequence[str] = ()) -> None:
        if name in self.nodes or name in allow:
            return
        raise unknown_node(what, name, [*self.nodes, *allow])

    def _targets(self, source: str) -> list[str] | None:
        """Where `source` can lead; None when a router without a path map can go anywhere."""
        if source in self.branches:
            path_map = self.branches[source].path_map
            return None if path_map is None else list(path_map.values())
        return [*self.edges.get(source, []), *self.node_ends.get(source, ())]

    def _validate(self) -> None:
        if not self.nodes:
            raise GraphError("the graph has no nodes; add one with `graph.add_node(name, func)`")
        for node in self.nodes.values():
            if isinstance(node, Subgraph):
                node.check(self.schema)
        for source, targets in self.edges.items():
            self._require_node("an edge", source, allow=[START])
            for target in targets:
                self._require_node(f"the edge from `{source}`", target, allow=[END])
        for source, branch in self.branches.items():
            self._require_node("add_conditional_edges", source, allow=[START])
            for target in (branch.path_map or {}).values():
                self._require_node(f"the path map of `{source}`", target, allow=[END])
        for source, ends in self.node_ends.items():
            for target in ends:
                self._require_node(f"the ends of `{source}`", target, allow=[END])
        for source in [START, *self.nodes]:
            self._check_exits(source)
        self._check_reachable()

    def _check_exits(self, source: str) -> None:
        plain = self.edges.get(source, [])
        if source in self.branches and plain:
            raise GraphError(
                f"`{source}` has both an edge and conditional edges; keep one way out"
            )
        if len(plain) > 1:
            raise GraphError(
                f"`{source}` has {len(plain)} edges ({name_list(plain)}); runs follow one path, "
                "so use `add_conditional_edges` to choose between them"
            )
        if not plain and source not in self.branches and source not in self.node_ends:
            if source == START:
                raise GraphError(
                    "the graph has no entry point; add `graph.add_edge(START, name)` or "
                    "`graph.set_entry_point(name)`"
                )
            raise GraphError(
                f"node `{source}` has no way out; add `graph.add_edge(\"{source}\", END)` "
                "or an edge to the next node"
            )

    def _check_reachable(self) -> None:
        seen, todo = {START}, [START]
        while todo:
            targets = self._targets(todo.pop())
            if targets is None:
                return  # a router may go anywhere: every node may be reached
            for target in targets:
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        unreachable = [n for n in self.nodes if n not in seen]
        if unreachable:
            raise GraphError(
                f"{name_list(unreachable)} cannot be reached from START; connect them with "
                "`add_edge` or remove them"
            )


def _names(names: Iterable[str]) -> tuple[str, ...]:
    return (names,) if isinstance(names, str) else tuple(names)
