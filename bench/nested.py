"""Nested graphs: the cost of a step inside a subgraph, against a flat step and against
LangGraph's subgraph step.

The workload is the 60-step counter loop of `bench/ours.py`, run flat and as a subgraph one and
three levels down (the outermost graph holds the checkpointer). A step is one node of the loop;
a nested run also pays for entering and leaving its subgraphs once, spread over its 60 steps.
"""

from __future__ import annotations

import gc
import itertools
import random
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, too

from langgraph.graph import END as LG_END  # noqa: E402
from langgraph.graph import START as LG_START  # noqa: E402
from langgraph.graph import StateGraph as LGStateGraph  # noqa: E402

from agentflow_nb import END, START, Message, StateGraph  # noqa: E402
from bench import langgraph_peer, ours  # noqa: E402
from bench.harness import steady_per_step  # noqa: E402

__all__ = ["DEPTHS", "Costs", "growth", "growth_ratios", "nested_costs", "report"]

DEPTHS = (0, 1, 3)
KINDS = ("memory", "file")
_ids = itertools.count()


def ours_loop(kind: str, steps: int, depth: int, folder: Path | None = None):
    """One run of the loop per call, flat (depth 0) or `depth` subgraphs down."""
    graph = StateGraph(ours.Count)
    graph.add_node("STEP", lambda s: {"counter": s.counter + 1})
    graph.add_edge(START, "STEP")
    graph.add_conditional_edges("STEP", lambda s: "STEP" if s.counter < steps else END, {"STEP": "STEP", END: END})
    app = _nest(graph, depth, ours.saver(kind, folder), lambda: StateGraph(ours.Count))

    def run() -> int:
        app.invoke({"counter": 0}, config={"thread_id": f"n{next(_ids)}", "recursion_limit": steps + 5})
        return steps

    return run


def langgraph_loop(kind: str, steps: int, depth: int, folder: Path | None = None):
    """The same on LangGraph: subgraphs compiled without a checkpointer use their parent's."""
    graph = LGStateGraph(langgraph_peer.Count)
    graph.add_node("step", lambda s: {"counter": s["counter"] + 1})
    graph.add_edge(LG_START, "step")
    graph.add_conditional_edges("step", lambda s: "step" if s["counter"] < steps else LG_END, ["step", LG_END])
    app = _nest(graph, depth, langgraph_peer.saver(kind, folder), lambda: LGStateGraph(langgraph_peer.Count),
                edges=((LG_START, "SUB"), ("SUB", LG_END)))

    def run() -> int:
        config = {"configurable": {"thread_id": f"n{next(_ids)}"}, "recursion_limit": steps + 5}
        assert app.invoke({"counter": 0}, config)["counter"] == steps
        return steps

    return run


def _nest(graph, depth: int, saver, builder, edges=()):
    """`graph` compiled, as the only node of `depth` graphs around it (made by `builder()`); the
    outermost one gets the checkpointer."""
    if depth == 0:
        return graph.compile(checkpointer=saver)
    app = graph.compile()
    for level in range(depth):
        outer = builder()
        outer.add_node("SUB", app)
        for source, target in edges:
            outer.add_edge(source, target)
        app = outer.compile(checkpointer=saver if level == depth - 1 else None)
    return app


FRAMEWORKS = {ours.NAME: ours_loop, langgraph_peer.NAME: langgraph_loop}


def nested_costs(steps: int = 60, rounds: int = 9, repeats: int = 5) -> Costs:
    """Median seconds per step for (framework, store kind, depth), and the median of the paired
    ratios nested / flat: each round runs a framework's variants back to back in a shuffled
    order, so that a slow moment of a shared machine hits flat and nested runs alike."""
    runners = {(fw, kind, depth): make(kind, steps, depth)
               for fw, make in FRAMEWORKS.items() for kind in KINDS for depth in DEPTHS}
    for run in runners.values():
        run()  # warm up
    samples: dict[tuple[str, str, int], list[float]] = {key: [] for key in runners}
    ratios: dict[tuple[str, str, int], list[float]] = {key: [] for key in runners if key[2]}
    shuffle = random.Random(13).shuffle
    for _ in range(rounds):
        for fw in FRAMEWORKS:
            for kind in KINDS:
                for _ in range(repeats):
                    order = list(DEPTHS)
                    shuffle(order)
                    took = {depth: _per_step(runners[(fw, kind, depth)]) for depth in order}
                    for depth in DEPTHS:
                        samples[(fw, kind, depth)].append(took[depth])
                        if depth:
                            ratios[(fw, kind, depth)].append(took[depth] / took[0])
    median = statistics.median
    return Costs({k: median(v) for k, v in samples.items()}, {k: median(v) for k, v in ratios.items()})


class Costs(NamedTuple):
    """Seconds per step, and paired nested / flat ratios, by (framework, store kind, depth)."""

    per_step: dict[tuple[str, str, int], float]
    vs_flat: dict[tuple[str, str, int], float]


def _per_step(run) -> float:
    gc.collect()
    start = time.perf_counter()
    done = run()
    return (time.perf_counter() - start) / done


def growth(kind: str, size: int, steps: int = 60) -> float:
    """Seconds per step inside a subgraph whose each step appends one message, on a thread
    already holding `size` messages (the conversation is shared with the subgraph)."""
    target = [size]
    inner = StateGraph()
    inner.add_node("TALK", lambda s: Message.text_message("one more line of the conversation", role="assistant"))
    inner.add_edge(START, "TALK")
    inner.add_conditional_edges("TALK", lambda s: "TALK" if len(s.messages) < target[0] else END,
                                {"TALK": "TALK", END: END})
    graph = StateGraph()
    graph.add_node("CHAT", inner.compile())
    app = graph.compile(checkpointer=ours.saver(kind))
    config = {"thread_id": f"g{next(_ids)}", "recursion_limit": steps + 5}
    app.invoke({"messages": [Message.text_message(f"earlier message {i}") for i in range(size - 1)]}, config=config)
    target[0] = size + steps
    stamps = [time.perf_counter() for chunk in app.stream({"messages": [Message.text_message("go on")]},
                                                          config=config)
              if chunk.event_type == "node_end" and chunk.node == "CHAT/TALK"]
    return steady_per_step(stamps)


def growth_ratios(repeats: int = 5) -> dict[str, float]:
    """Per store: step at 10,000 messages / step at 10, inside a subgraph (medians of `repeats`)."""
    out = {}
    for kind in KINDS:
        small = statistics.median(growth(kind, 10) for _ in range(repeats))
        large = statistics.median(growth(kind, 10_000) for _ in range(repeats))
        out[kind] = large / small
    return out


def report(costs: Costs, grow: dict[str, float]) -> tuple[list[str], list[str]]:
    """The report section, and the goal rows for the goals table."""
    us = 1e6
    flat, costs = costs.vs_flat, costs.per_step
    me, lg = ours.NAME, langgraph_peer.NAME
    lines = [
        "## 8. Nested graphs: a step inside a subgraph (µs)",
        "",
        "The 60-step loop run flat and as a subgraph 1 and 3 levels down; per step, entering and",
        "leaving the subgraphs included. *nested / flat* compares a framework with itself: the median",
        "of ratios between runs made back to back.",
        "",
        "| framework | store | flat | 1 level | 3 levels | 1 level / flat | 3 levels / flat |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for fw in (me, lg):
        for kind in KINDS:
            t = [costs[(fw, kind, depth)] for depth in DEPTHS]
            store = {"memory": "in-memory", "file": "file" if fw == me else "SQLite file"}[kind]
            lines.append(f"| {fw} | {store} | {t[0] * us:.1f} | {t[1] * us:.1f} | {t[2] * us:.1f} | "
                         f"{flat[(fw, kind, 1)]:.2f} | {flat[(fw, kind, 3)]:.2f} |")
    lines += ["", "| ours / LangGraph, step inside a subgraph | 1 level | 3 levels |", "|---|---:|---:|"]
    for kind in KINDS:
        lines.append(f"| {'in-memory' if kind == 'memory' else 'file (LangGraph: SQLite)'} | "
                     f"{costs[(me, kind, 1)] / costs[(lg, kind, 1)]:.2f} | "
                     f"{costs[(me, kind, 3)] / costs[(lg, kind, 3)]:.2f} |")
    lines += ["", "Growth inside a subgraph that shares the conversation (each step appends a message): "
              + ", ".join(f"{kind} {ratio:.2f}x" for kind, ratio in grow.items())
              + " for a step at 10,000 messages against one at 10."]
    goals = []
    for kind in KINDS:
        ratio = flat[(me, kind, 1)]
        label = "in-memory" if kind == "memory" else "file"
        goals.append(f"| nested, {label}: step in a subgraph / flat step | {ratio:.2f}x | within 1.5x | "
                     f"{'met' if ratio <= 1.5 else 'MISSED'} |")
    return lines, goals


if __name__ == "__main__":  # this section alone: `python bench/nested.py` (BENCH_ROUNDS rounds)
    import os

    section, goal_rows = report(nested_costs(rounds=int(os.environ.get("BENCH_ROUNDS", "9"))), growth_ratios())
    print("\n".join([*section, "", *goal_rows]))
