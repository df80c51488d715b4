"""Benchmark of the notebook view, kernel side: first drawing, a step's update, inspector build.

Run: `make bench-notebook` (or `.venv/bin/python bench/notebook_view.py`).

A step's update is what the kernel does for each node the run passes while the debugger shows
it: the session takes the engine's chunks (node started, node finished), the graph view turns the
new position into CSS classes and sends them, the event log re-renders its lines; plus, measured
on its own and added in the last column, building the static fallback (the saved notebook's
picture: the marked SVG and a state summary), which the debugger republishes at each pause and
end. Goals: a step's update with the fallback under 1 ms at 200 nodes (also with the nodes
inside subgraphs drawn as open clusters); the inspector for a
state holding 1,000 messages under 200 ms.
"""

from __future__ import annotations

import platform
import statistics
import time
from typing import Any

from agentflow_nb import END, START, AgentState, Message, StateGraph
from agentflow_nb.graph.chunks import StreamChunk, StreamEventType
from agentflow_nb.notebook import Debugger, DebugSession, StateInspector
from agentflow_nb.notebook.status import SessionStatus
from agentflow_nb.render import Drawing
from agentflow_nb.render import dot as dot_module

E = StreamEventType


class Ticket(AgentState):
    amount: int = 0
    approved: bool = False
    note: str = ""
    tags: list[str] = []


def chain(n: int) -> tuple[Any, list[str]]:
    graph = StateGraph(Ticket)
    names = [f"NODE_{i}" for i in range(n)]
    for name in names:
        graph.add_node(name, lambda s: None)
    order = [START, *names, END]
    for a, b in zip(order, order[1:], strict=False):
        graph.add_edge(a, b)
    return graph.compile(), names


def nested(n: int, parts: int = 4) -> tuple[Any, list[str]]:
    """`parts` subgraph nodes in a chain, each a chain of n / parts nodes: n inner nodes in all,
    named by their paths (`SUB_0/NODE_0`)."""
    inner, names = chain(n // parts)
    graph = StateGraph(Ticket)
    subs = [f"SUB_{k}" for k in range(parts)]
    for sub in subs:
        graph.add_node(sub, inner)
    order = [START, *subs, END]
    for a, b in zip(order, order[1:], strict=False):
        graph.add_edge(a, b)
    return graph.compile(), [f"{sub}/{name}" for sub in subs for name in names]


def median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def first_drawing(n: int, repeats: int = 5, subgraphs: bool = False) -> float:
    app, _ = nested(n) if subgraphs else chain(n)
    samples = []
    for _ in range(repeats):
        dot_module._svg.cache_clear()
        start = time.perf_counter()
        _ = Drawing.of(app, subgraphs).svg
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def step_updates(n: int, steps: int = 400, subgraphs: bool = False) -> tuple[float, float]:
    """Median µs per step: the live view's update for one node run, and the fallback build
    (`subgraphs`: the nodes are inside 4 subgraphs, all drawn open)."""
    app, names = nested(n) if subgraphs else chain(n)
    config = {"thread_id": f"bench-{n}-{subgraphs}"}
    app.invoke({"amount": 1, "messages": [Message.text_message("go")]},
               {**config, "interrupt_before": [names[0]]})
    session = DebugSession(app, config=config, before=names[::7], after=names[::11], start=False)
    ui = Debugger(session, expand=subgraphs)
    session.status = SessionStatus.RUNNING
    live, fallback = [], []
    for i in range(steps):
        node = names[i % n]
        if i % n == 0:
            session.path.clear()
        began = StreamChunk(E.NODE_START, f"{node} started", config["thread_id"], node, i)
        ended = StreamChunk(E.NODE_END, f"{node} finished", config["thread_id"], node, i + 1)
        start = time.perf_counter()
        session._on_chunk(began)
        session._on_chunk(ended)
        live.append(time.perf_counter() - start)
        start = time.perf_counter()
        ui.fallback()
        fallback.append(time.perf_counter() - start)
    ui.close()
    return median_us(live), median_us(fallback)


def inspector_build(messages: int = 1000, repeats: int = 7) -> float:
    state = Ticket(messages=[Message.text_message(f"message {i} " * 5) for i in range(messages)], tags=["a"])
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        StateInspector(Ticket).load(state, {"note": "NODE_1"})
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> None:
    print(f"# notebook view benchmark — {time.strftime('%Y-%m-%d')} — {platform.machine()}, "
          f"Python {platform.python_version()}, dot: {' '.join(dot_module.find_dot())}\n")
    print("| nodes | first drawing (ms) | step: live view (µs) | step: static fallback (µs) | step, both (µs) |")
    print("|---:|---:|---:|---:|---:|")
    for n in (5, 50, 200):
        live, fallback = step_updates(n)
        print(f"| {n} | {first_drawing(n):.1f} | {live:.0f} | {fallback:.0f} | {live + fallback:.0f} |")
    live, fallback = step_updates(200, subgraphs=True)
    print(f"| 200, inside 4 open subgraphs | {first_drawing(200, subgraphs=True):.1f} | {live:.0f} | {fallback:.0f} "
          f"| {live + fallback:.0f} |")
    print(f"\ninspector build, 1,000 messages: {inspector_build():.1f} ms (goal < 200 ms)")


if __name__ == "__main__":
    main()
