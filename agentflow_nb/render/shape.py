"""The drawable shape of a compiled graph (its subgraphs as clusters, open or closed), and a run's
position on it. Pure data, no I/O."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from agentflow_nb.errors import unknown_name
from agentflow_nb.graph.command import END, START
from agentflow_nb.graph.paths import SEP, join_path, split_path

if TYPE_CHECKING:
    from agentflow_nb.graph.compiled import CompiledGraph

__all__ = ["ANY", "OPEN_UP_TO", "DrawnEdge", "EdgeShape", "GraphShape", "Level", "Phase", "Position", "wrap_label"]

ANY = "__any__"  # where a router without a path map may go
Phase = Literal["before", "after", "running", "stopping", "done", "stopped", "error"]


@dataclass(frozen=True)
class EdgeShape:
    """One arrow. `conditional` arrows are drawn dashed, with their `label`."""

    id: str
    source: str
    target: str
    label: str | None = None
    conditional: bool = False


@dataclass(frozen=True)
class Level:
    """One graph of a nested drawing: the root (`path` "") or the subgraph at `path`.

    `nodes` and the ends of `edges` are names local to this graph; `subgraphs` are the local
    names of its subgraph nodes.
    """

    path: str
    nodes: tuple[str, ...]
    edges: tuple[EdgeShape, ...]
    subgraphs: tuple[str, ...] = ()

    @property
    def uses_any(self) -> bool:
        """True when some router of this graph has no path map."""
        return any(e.target == ANY for e in self.edges)


@dataclass(frozen=True)
class GraphShape:
    """Nodes and edges of a graph and of every subgraph in it, with the stable element ids the
    drawing uses. A subgraph in `expanded` is drawn as a cluster holding its own nodes; any
    other one as a single node. Names are node paths (`"WRITER/DRAFT"`); a subgraph's own
    START and END are `"WRITER/__start__"` and `"WRITER/__end__"`.
    """

    levels: tuple[Level, ...]
    expanded: frozenset[str] = frozenset()

    @classmethod
    def of(cls, app: CompiledGraph, expand: Iterable[str] | bool | None = None) -> GraphShape:
        """Read the shape of a compiled graph and its subgraphs.

        `expand`: the subgraph paths drawn open, `True` for all, `False` for none; None opens
        them all when the whole graph has at most `OPEN_UP_TO` nodes.

        Raises:
            GraphError: `expand` names something that is not a subgraph node.
        """
        levels, count = [], 0
        for path, graph in app.walk():
            edges = _edges_of(graph, count)
            count += len(edges)
            levels.append(Level(path, tuple(graph.nodes), edges, tuple(graph.subgraphs)))
        shape = cls(tuple(levels))
        return cls(shape.levels, shape._expansion(expand)) if shape.subgraph_paths else shape

    def _expansion(self, expand: Iterable[str] | bool | None) -> frozenset[str]:
        subs = self.subgraph_paths
        if expand is None:
            expand = len(self.paths) <= OPEN_UP_TO
        if isinstance(expand, bool):
            return frozenset(subs) if expand else frozenset()
        names = (expand,) if isinstance(expand, str) else tuple(expand)
        for name in names:
            if name not in subs:
                raise unknown_name("expand", name, subs, kind="a subgraph node", kinds="subgraph nodes")
        return frozenset(names)

    def expand(self, path: str, open: bool = True) -> GraphShape:
        """The same graph with the subgraph at `path` drawn open (or closed): a new shape."""
        self._expansion([path])
        expanded = self.expanded | {path} if open else self.expanded - {path}
        return self if expanded == self.expanded else GraphShape(self.levels, frozenset(expanded))

    # -- names -------------------------------------------------------------------------------

    @property
    def nodes(self) -> tuple[str, ...]:
        """The root graph's nodes."""
        return self.levels[0].nodes

    @property
    def edges(self) -> tuple[EdgeShape, ...]:
        """The root graph's edges."""
        return self.levels[0].edges

    @cached_property
    def paths(self) -> tuple[str, ...]:
        """Every node at every depth, as paths: the root's nodes first, then each subgraph's."""
        return tuple(join_path(level.path, name) for level in self.levels for name in level.nodes)

    @cached_property
    def subgraph_paths(self) -> tuple[str, ...]:
        """The subgraph nodes at every depth, parents first."""
        return tuple(level.path for level in self.levels[1:])

    @cached_property
    def _by_path(self) -> dict[str, Level]:
        return {level.path: level for level in self.levels}

    def level(self, path: str) -> Level:
        """The graph at `path` ("" for the root)."""
        return self._by_path[path]

    def is_open(self, path: str) -> bool:
        """True when the subgraph at `path` is drawn as an open cluster."""
        return path in self.expanded and self.shown(path)

    def shown(self, path: str) -> bool:
        """True when `path` is drawn itself (every subgraph around it is open)."""
        return self.visible(path) == path

    def visible(self, path: str) -> str:
        """What stands for `path` in the drawing: itself, or the closed subgraph it is inside."""
        shown = self._visible.get(path)
        return shown if shown is not None else self._visible_of(path)

    @cached_property
    def _visible(self) -> dict[str, str]:
        # asked for every node of the path taken at each step: worked out once per shape
        return {path: self._visible_of(path) for path in self.paths}

    def _visible_of(self, path: str) -> str:
        if not self.expanded:
            cut = path.find(SEP)
            return path if cut < 0 else path[:cut]
        parts = split_path(path)
        for depth in range(1, len(parts)):
            prefix = SEP.join(parts[:depth])
            if prefix not in self.expanded:
                return prefix
        return path

    # -- element ids -------------------------------------------------------------------------

    def node_id(self, name: str) -> str:
        """The element id of a node (or of an open subgraph's cluster) in the SVG."""
        return self._ids[name]

    @cached_property
    def _ids(self) -> dict[str, str]:
        ids = {START: "afn_start", END: "afn_end", ANY: "afn_any"}
        ids.update((path, f"afn_{i}") for i, path in enumerate(self.paths))
        for path in self.subgraph_paths:
            own = ids[path]
            ids.update((join_path(path, end), f"{own}_{end.strip('_')}") for end in (START, END, ANY))
        return ids

    def node_ids(self) -> dict[str, str]:
        """Every drawn node's element id, START and END included, open clusters too (a fresh dict)."""
        return dict(self._drawn_ids)

    @cached_property
    def _drawn_ids(self) -> dict[str, str]:
        names: list[str] = []
        for level in self.drawn_levels:
            ends = [START, END] + ([ANY] if level.uses_any else [])
            names += [join_path(level.path, n) for n in (*level.nodes, *ends)]
        return {name: self._ids[name] for name in names}

    @property
    def element_ids(self) -> dict[str, str]:
        """`node_ids()` itself, not a copy: for lookups that must be cheap. Do not change it."""
        return self._drawn_ids

    @cached_property
    def drawn_edge_ids(self) -> frozenset[str]:
        """The ids of the arrows drawn (those inside closed subgraphs are not)."""
        return frozenset(drawn.edge.id for drawn in self.drawn_edges())

    @cached_property
    def drawn_levels(self) -> tuple[Level, ...]:
        """The root and every open subgraph: the graphs whose nodes are drawn."""
        return tuple(level for level in self.levels if not level.path or self.is_open(level.path))

    @property
    def uses_any(self) -> bool:
        """True when some router of the root graph has no path map."""
        return self.levels[0].uses_any

    def edge_id(self, source: str, target: str) -> str | None:
        """The element id of the root graph's arrow from `source` to `target`, if drawn."""
        return self._edge_ids.get(("", source, target)) or self._edge_ids.get(("", source, ANY))

    @cached_property
    def _edge_ids(self) -> dict[tuple[str, str, str], str]:
        ids: dict[tuple[str, str, str], str] = {}
        for level in self.levels:
            for edge in level.edges:
                ids.setdefault((level.path, edge.source, edge.target), edge.id)
        return ids

    def transition(self, source: str, target: str) -> tuple[str, ...]:
        """The arrows a run follows from node path `source` (or START) to `target` (or END):
        one arrow within a graph; into a subgraph, the arrow to it and the one from its START
        at each level entered; a subgraph's path after one of its nodes, the arrow to its END.
        Arrows inside closed subgraphs are included (they are simply not drawn)."""
        key = (source, target)
        cache = self.__dict__.setdefault("_transitions", {})
        found = cache.get(key)
        if found is None:
            found = cache[key] = self._transition(source, target)
        return found

    def _transition(self, source: str, target: str) -> tuple[str, ...]:
        here = split_path(source) if source != START else ()
        base = here[:-1]
        local = here[-1] if here else START
        if target == END:
            return self._arrow(base, local, END)
        there = split_path(target)
        if there == base:  # the subgraph ended: its last node to its END
            return self._arrow(base, local, END)
        if there[: len(base)] != base or len(there) <= len(base):
            return ()  # not one move of a run (a resume elsewhere, a fork)
        arrows = list(self._arrow(base, local, there[len(base)]))
        for depth in range(len(base) + 1, len(there)):
            arrows += self._arrow(there[:depth], START, there[depth])
        return tuple(arrows)

    def _arrow(self, level: tuple[str, ...], source: str, target: str) -> tuple[str, ...]:
        path = SEP.join(level)
        found = self._edge_ids.get((path, source, target)) or self._edge_ids.get((path, source, ANY))
        return (found,) if found else ()

    # -- layout --------------------------------------------------------------------------------

    def drawn_edges(self) -> list[DrawnEdge]:
        """The arrows as drawn: an arrow to an open subgraph goes to its START (clipped at its
        cluster), one from it leaves from its END."""
        out = []
        for level in self.drawn_levels:
            for edge in level.edges:
                source, target = join_path(level.path, edge.source), join_path(level.path, edge.target)
                tail = source if edge.source in level.subgraphs and self.is_open(source) else None
                head = target if edge.target in level.subgraphs and self.is_open(target) else None
                out.append(DrawnEdge(edge, join_path(tail, END) if tail else source,
                                     join_path(head, START) if head else target, tail, head))
        return out

    def ranks(self) -> list[list[str]]:
        """Drawn nodes by distance from START along arrows (back edges of loops ignored)."""
        out: dict[str, list[str]] = {}
        for drawn in self.drawn_edges():
            out.setdefault(drawn.source, []).append(drawn.target)
        depth = {START: 0}
        frontier = [START]
        while frontier:  # breadth first: each node at the first depth it is reached
            following = []
            for node in frontier:
                for target in out.get(node, ()):
                    if target not in depth:
                        depth[target] = depth[node] + 1
                        following.append(target)
            frontier = following
        levels: list[list[str]] = []
        for name in dict.fromkeys([START, *self._drawn_ids, END, ANY]):
            if name in depth and not self.is_open(name):  # an open cluster is no node of its own
                while len(levels) <= depth[name]:
                    levels.append([])
                levels[depth[name]].append(name)
        return levels

    def direction(self, width: float = 480, height: float = 340) -> Literal["TB", "LR"]:
        """The layout direction that shows the graph largest in a `width` x `height` viewport:
        top to bottom for long chains, left to right for wide fan-outs."""
        levels = self.ranks()
        breadth = max(len(level) for level in levels)
        names = [n for level in self.drawn_levels for n in level.nodes]
        label = 14 + 7.5 * max((len(line) for n in names for line in wrap_label(n).split("\n")), default=4)
        tall = min(width / (breadth * (label + 25)), height / (len(levels) * 68))
        wide = min(width / (len(levels) * (label + 32)), height / (breadth * 61))
        return "LR" if wide > tall * 1.05 else "TB"


class DrawnEdge(NamedTuple):
    """An arrow as drawn: its `edge`, its drawn ends, and the open subgraphs it is clipped at."""

    edge: EdgeShape
    source: str
    target: str
    tail: str | None = None
    head: str | None = None


#: A graph with at most this many nodes, subgraphs' included, is drawn with every subgraph open.
OPEN_UP_TO = 40


def _edges_of(app: CompiledGraph, first: int) -> tuple[EdgeShape, ...]:
    """The arrows of one graph (not of its subgraphs), numbered from `first`."""
    edges: list[EdgeShape] = []

    def add(source: str, target: str, label: str | None = None, conditional: bool = False) -> None:
        edges.append(EdgeShape(f"afe_{first + len(edges)}", source, target, label, conditional))

    for source in (START, *app.nodes):
        for target in app.edges.get(source, ()):
            add(source, target)
        branch = app.branches.get(source)
        if branch is not None:
            targets = branch.path_map or _literal_targets(branch.router.func)
            if targets is None:
                add(source, ANY, branch.router.name, True)
            else:
                for key, target in targets.items():
                    add(source, target, None if key == target else str(key), True)
        for target in app.builder.node_ends.get(source, ()):
            add(source, target, "goto", True)
    return tuple(edges)


LABEL_WIDTH = 18


def wrap_label(name: str, width: int = LABEL_WIDTH) -> str:
    """A node label of at most two lines of `width` characters: broken at `_`, `-`, `.`, `/`,
    spaces or case changes where it can, cut with an ellipsis past two lines (the drawing keeps
    the full name as the node's tooltip)."""
    if len(name) <= width:
        return name
    pieces = re.findall(r"[^_\-./ ]*[_\-./ ]|[^_\-./ ]+$", name)
    pieces = [p for piece in pieces for p in re.findall(r"[A-Z]?[^A-Z]+|[A-Z]+(?![^A-Z])|.+", piece)] or [name]
    lines = [""]
    for piece in pieces:
        while len(piece) > width:  # a piece too long for any line: hard break
            room = width - len(lines[-1])
            lines[-1] += piece[:room]
            lines.append("")
            piece = piece[room:]
        if len(lines[-1]) + len(piece) > width:
            lines.append("")
        lines[-1] += piece
    lines = [line for line in lines if line]
    if len(lines) > 2:
        lines = [lines[0], lines[1][: width - 1] + "…"]
    return "\n".join(lines)


def _literal_targets(router: Any) -> dict[str, str] | None:
    """Targets from a router's `-> Literal["A", "B"]` annotation, if it has one."""
    try:
        hints = typing.get_type_hints(router)
    except Exception:  # noqa: BLE001 - annotations that do not resolve tell us nothing
        return None
    returned = hints.get("return")
    if typing.get_origin(returned) is Literal:
        return {str(v): str(v) for v in typing.get_args(returned)}
    return None


@dataclass(frozen=True)
class Position:
    """Where a run stands, as the drawing shows it.

    `visited` are the nodes on the path taken so far and `path_edges` the arrows along it;
    `edge` is the arrow just taken; `before` / `after` are the breakpoints.
    """

    current: str | None = None
    phase: Phase | None = None
    visited: frozenset[str] = field(default_factory=frozenset)
    before: frozenset[str] = field(default_factory=frozenset)
    after: frozenset[str] = field(default_factory=frozenset)
    edge: tuple[str, str] | None = None
    path_edges: frozenset[tuple[str, str]] = field(default_factory=frozenset)
