"""A pause/resume round trip (issue 14): `interrupt_after` on every step, resumed with nothing new.

A thread of a one-node loop pauses after every step. One round trip is one call that resumes it:
load the thread, run the next step, save it and pause after it again, as a server resuming an
approval or the notebook's Step button does. Every framework keeps its thread in its own store
(in memory, or a file: our JSONL, LangGraph's SqliteSaver, pydantic-graph's
FileStatePersistence) and each trip starts from that store's state, as a resume from another
request would. Run alone: `python bench/roundtrip.py`.

Files twice: as each store comes (ours and SQLite's both fsync the pause; pydantic-graph's
never does), and with no fsync for any of them (ours `durable=False`, SQLite
`synchronous=NORMAL`, its usual setting with a write-ahead log): what each framework costs
beside the disk's flush.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import ours, scratch  # noqa: E402

KINDS = ("memory", "file", "nosync")
NO_FSYNC = "nosync"  # the file stores, none of them flushing to the disk
TRIPS = 25  # timed round trips per thread
WARM = 3
_ids = itertools.count()
Trips = Callable[[int], list[float]]  # runs n round trips on a fresh thread, returns each one's seconds


def ours_trips(kind: str) -> Trips:
    from agentflow_nb import END, START, FileCheckpointer, StateGraph

    graph = StateGraph(ours.Count)
    graph.add_node("STEP", lambda s: {"counter": s.counter + 1})
    graph.add_edge(START, "STEP")
    graph.add_conditional_edges("STEP", lambda s: "STEP" if s.counter < 10**9 else END, {"STEP": "STEP", END: END})
    store = FileCheckpointer(scratch.folder("af-bench-"), durable=False) if kind == NO_FSYNC else ours.saver(kind)
    app = graph.compile(checkpointer=store, interrupt_after=["STEP"])

    def trips(n: int) -> list[float]:
        config = {"thread_id": f"rt{next(_ids)}"}
        assert app.invoke({"counter": 0}, config)["interrupted"]
        took = []
        for _ in range(n):
            start = time.perf_counter()
            result = app.invoke({}, config)
            took.append(time.perf_counter() - start)
        assert result["interrupted"] and result["state"].counter == n + 1, result
        return took

    return trips


def langgraph_trips(kind: str) -> Trips:
    from langgraph.graph import END, START, StateGraph

    from bench import langgraph_peer

    graph = StateGraph(langgraph_peer.Count)
    graph.add_node("step", lambda s: {"counter": s["counter"] + 1})
    graph.add_edge(START, "step")
    graph.add_conditional_edges("step", lambda s: "step" if s["counter"] < 10**9 else END, ["step", END])
    store = langgraph_peer.saver("file" if kind == NO_FSYNC else kind)
    if kind == NO_FSYNC:
        store.conn.execute("PRAGMA synchronous=NORMAL")  # with its WAL: no flush at each commit
    app = graph.compile(checkpointer=store, interrupt_after=["step"])

    def trips(n: int) -> list[float]:
        config = {"configurable": {"thread_id": f"rt{next(_ids)}"}}
        app.invoke({"counter": 0}, config)
        took = []
        for _ in range(n):
            start = time.perf_counter()
            result = app.invoke(None, config)
            took.append(time.perf_counter() - start)
        assert result["counter"] == n + 1 and app.get_state(config).next == ("step",), result
        return took

    return trips


def pydantic_graph_trips(kind: str) -> Trips:
    """pydantic-graph's way to pause and resume: a run restored from its persistence runs one
    node (`iter_from_persistence` + `next`), in one event loop (async is its only API for it)."""
    from dataclasses import dataclass

    from pydantic_graph import BaseNode, Graph, GraphRunContext
    from pydantic_graph.persistence.file import FileStatePersistence
    from pydantic_graph.persistence.in_mem import FullStatePersistence

    @dataclass
    class Counter:
        counter: int = 0

    @dataclass
    class Step(BaseNode[Counter, None, int]):
        async def run(self, ctx: GraphRunContext[Counter]) -> Step:
            ctx.state.counter += 1
            return Step()

    loop_graph = Graph(nodes=[Step], name="loop")

    async def run(n: int) -> list[float]:
        if kind == "memory":
            persistence: Any = FullStatePersistence()
        else:
            persistence = FileStatePersistence(scratch.folder("pgr-") / "run.json")
        await loop_graph.initialize(Step(), persistence, state=Counter())
        took = []
        for _ in range(n):
            start = time.perf_counter()
            async with loop_graph.iter_from_persistence(persistence) as graph_run:
                await graph_run.next()
            took.append(time.perf_counter() - start)
        return took

    return lambda n: asyncio.run(run(n))


FRAMEWORKS: dict[str, Callable[[str], Trips]] = {
    "agentflow_nb": ours_trips,
    "LangGraph": langgraph_trips,
    "pydantic-graph": pydantic_graph_trips,
}


def measure(rounds: int = 5) -> dict[tuple[str, str], float]:
    """Median seconds per round trip, per (framework, kind): `rounds` interleaved rounds, each a
    fresh thread of `TRIPS` timed trips after `WARM` untimed ones."""
    makers = {(name, kind): make(kind) for name, make in FRAMEWORKS.items() for kind in KINDS}
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in makers}
    for _ in range(rounds):
        for key, trips in makers.items():
            gc.collect()
            samples[key].append(statistics.median(trips(WARM + TRIPS)[WARM:]))
    return {key: statistics.median(values) for key, values in samples.items()}


def section(found: dict[tuple[str, str], float], number: int) -> list[str]:
    """The report's section on round trips."""
    us = 1e6
    lines = [f"## {number}. Pause/resume round trip: `interrupt_after` on every step, resumed with `{{}}` (µs)", "",
             "One call resumes a thread paused after a step, runs the next step, saves and pauses again. "
             "LangGraph: `invoke(None, config)`; pydantic-graph: `iter_from_persistence` then one "
             "`next()`. Median of each thread's trips, median over rounds.", "",
             "| store | agentflow_nb | LangGraph | pydantic-graph | ours / LangGraph | ours / pydantic-graph |",
             "|---|---:|---:|---:|---:|---:|"]
    for kind in KINDS:
        mine, lg, pg = (found[(name, kind)] for name in FRAMEWORKS)
        store = {"memory": "in-memory", "file": "file (LangGraph: SQLite; ours and SQLite fsync each pause)",
                 NO_FSYNC: "file, no fsync in any (ours `durable=False`, SQLite `synchronous=NORMAL`)"}[kind]
        lines.append(f"| {store} | {mine * us:.0f} | {lg * us:.0f} | {pg * us:.0f} | {mine / lg:.3f} | "
                     f"{mine / pg:.3f} |")
    return lines


def goal_rows(found: dict[tuple[str, str], float]) -> list[str]:
    """Goal: a round trip at most 1/10 of LangGraph's, in memory and in files as each store
    comes (a pause fsynced); pydantic-graph, and files with no fsync in any, for reference."""
    rows = []
    for kind in ("memory", "file"):
        mine, lg, pg = (found[(name, kind)] for name in FRAMEWORKS)
        ratio = mine / lg
        if kind == "memory":
            label = f"memory (vs LangGraph; vs pydantic-graph {mine / pg:.2f})"
        else:
            bare = found[("agentflow_nb", NO_FSYNC)] / found[("LangGraph", NO_FSYNC)]
            label = f"file, each pause fsynced (vs LangGraph's SQLite; with no fsync in either {bare:.2f})"
        rows.append(f"| pause/resume round trip, {label} | {ratio:.3f} | at most 0.10 | "
                    f"{'met' if ratio <= 0.10 else 'MISSED'} |")
    return rows


if __name__ == "__main__":
    print("\n".join(section(measure(), 0)))
