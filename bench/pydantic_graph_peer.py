"""The loop workload on pydantic-graph 1.x (FullStatePersistence, FileStatePersistence)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from pathlib import Path

from pydantic_graph import BaseNode, End, Graph, GraphRunContext
from pydantic_graph.persistence.file import FileStatePersistence
from pydantic_graph.persistence.in_mem import FullStatePersistence, SimpleStatePersistence

from bench import scratch

NAME = "pydantic-graph"
_ids = itertools.count()
LIMIT = [60]


@dataclass
class Count:
    counter: int = 0


@dataclass
class Step(BaseNode[Count, None, int]):
    async def run(self, ctx: GraphRunContext[Count]) -> Step | End[int]:
        ctx.state.counter += 1
        return Step() if ctx.state.counter < LIMIT[0] else End(ctx.state.counter)


GRAPH = Graph(nodes=[Step])


def loop(kind: str, steps: int, folder: Path | None = None):
    folder = folder or scratch.folder("pg-bench-")

    def run() -> int:
        LIMIT[0] = steps
        if kind == "none":
            persistence = SimpleStatePersistence()
        elif kind == "memory":
            persistence = FullStatePersistence()
        else:
            persistence = FileStatePersistence(folder / f"run-{next(_ids)}.json")
        result = GRAPH.run_sync(Step(), state=Count(), persistence=persistence)
        assert result.output == steps
        return steps

    return run


def loop_async(kind: str, steps: int, folder: Path | None = None):
    """The same loop run by `asyncio.run(graph.run(...))`, as the other frameworks' async loops are."""
    if kind == "file":
        raise ValueError("the async loop is measured without persistence and in memory only")

    def run() -> int:
        LIMIT[0] = steps
        persistence = SimpleStatePersistence() if kind == "none" else FullStatePersistence()
        result = asyncio.run(GRAPH.run(Step(), state=Count(), persistence=persistence))
        assert result.output == steps
        return steps

    return run
