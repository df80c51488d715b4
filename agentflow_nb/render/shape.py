"""The drawable shape of a compiled graph, and a run's position on it. Pure data, no I/O."""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from agentflow_nb.graph.command import END, START

if TYPE_CHECKING:
    from agentflow_nb.graph.compiled import CompiledGraph

__all__ = ["ANY", "EdgeShape", "GraphShape", "Phase", "Position", "wrap_label"]

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
class GraphShape:
    """Nodes and edges of a graph, with the stable element ids the drawing uses."""

    nodes: tuple[str, ...]
    edges: tuple[EdgeShape, ...]

    @classmethod
    def of(cls, app: CompiledGraph) -> GraphShape:
        """Read the shape of a compiled graph."""
        edges: list[EdgeShape] = []

        def add(source: str, target: str, label: str | None = None, conditional: bool = False) -> None:
            edges.append(EdgeShape(f"afe_{len(edges)}", source, target, label, conditional))

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
        return cls(tuple(app.nodes), tuple(edges))

    def node_id(self, name: str) -> str:
        """The element id of a node in the SVG."""
        return self._ids[name]

    @cached_property
    def _ids(self) -> dict[str, str]:
        ids = {START: "afn_start", END: "afn_end", ANY: "afn_any"}
        ids.update((name, f"afn_{i}") for i, name in enumerate(self.nodes))
        return ids

    def node_ids(self) -> dict[str, str]:
        """Every node's element id, START and END included (a fresh dict)."""
        return dict(self._drawn_ids)

    @cached_property
    def _drawn_ids(self) -> dict[str, str]:
        names = [START, *self.nodes, END] + ([ANY] if self.uses_any else [])
        return {name: self._ids[name] for name in names}

    @property
    def uses_any(self) -> bool:
        """True when some router has no path map."""
        return any(e.target == ANY for e in self.edges)

    def ranks(self) -> list[list[str]]:
        """Nodes by distance from START along edges (back edges of loops ignored), START first."""
        out: dict[str, list[str]] = {}
        for edge in self.edges:
            out.setdefault(edge.source, []).append(edge.target)
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
        for name in [START, *self.nodes, END, ANY]:
            if name in depth:
                while len(levels) <= depth[name]:
                    levels.append([])
                levels[depth[name]].append(name)
        return levels

    def direction(self, width: float = 480, height: float = 340) -> Literal["TB", "LR"]:
        """The layout direction that shows the graph largest in a `width` x `height` viewport:
        top to bottom for long chains, left to right for wide fan-outs."""
        levels = self.ranks()
        breadth = max(len(level) for level in levels)
        label = 14 + 7.5 * max((len(line) for n in self.nodes for line in wrap_label(n).split("\n")), default=4)
        tall = min(width / (breadth * (label + 25)), height / (len(levels) * 68))
        wide = min(width / (len(levels) * (label + 32)), height / (breadth * 61))
        return "LR" if wide > tall * 1.05 else "TB"

    def edge_id(self, source: str, target: str) -> str | None:
        """The element id of the arrow from `source` to `target`, if drawn."""
        return self._edge_ids.get((source, target)) or self._edge_ids.get((source, ANY))

    @cached_property
    def _edge_ids(self) -> dict[tuple[str, str], str]:
        ids: dict[tuple[str, str], str] = {}
        for edge in self.edges:
            ids.setdefault((edge.source, edge.target), edge.id)
        return ids


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
