"""Benchmark of the notebook view: first drawing, per-step view update, inspector build.

Run: `make bench-notebook` (or `.venv/bin/python bench/notebook_view.py`).
Goals: a step's view update under 1 ms for 50 nodes (kernel side); the inspector for a state
holding 1,000 messages under 200 ms.
"""

from __future__ import annotations

import platform
import statistics
import time

from agentflow_nb import END, START, AgentState, Message, StateGraph
from agentflow_nb.notebook import GraphView, StateInspector
from agentflow_nb.render import Drawing, Position
from agentflow_nb.render import dot as dot_module


def chain(n: int):
    graph = StateGraph()
    names = [f"NODE_{i}" for i in range(n)]
    for name in names:
        graph.add_node(name, lambda s: None)
    order = [START, *names, END]
    for a, b in zip(order, order[1:], strict=False):
        graph.add_edge(a, b)
    return graph.compile(), names


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def first_drawing(n: int, repeats: int = 5) -> float:
    app, _ = chain(n)
    samples = []
    for _ in range(repeats):
        dot_module._svg.cache_clear()
        start = time.perf_counter()
        _ = Drawing.of(app).svg
        samples.append(time.perf_counter() - start)
    return median_ms(samples)


def step_updates(n: int, steps: int = 400) -> tuple[float, float]:
    """Median ms per step: the live widget's trait updates, and the static styled SVG."""
    app, names = chain(n)
    drawing = Drawing.of(app)
    view = GraphView(drawing)
    positions = []
    for i in range(steps):
        node = names[i % n]
        visited = frozenset(names[: i % n])
        edge = (names[i % n - 1] if i % n else START, node)
        positions.append(Position(current=node, phase="before", visited=visited,
                                  before=frozenset(names[::7]), after=frozenset(names[::11]), edge=edge))
    widget, static = [], []
    for position in positions:
        start = time.perf_counter()
        view.show(position)
        widget.append(time.perf_counter() - start)
        start = time.perf_counter()
        drawing.styled_svg(position)
        static.append(time.perf_counter() - start)
    return median_ms(widget), median_ms(static)


def inspector_build(messages: int = 1000, repeats: int = 7) -> float:
    class Ticket(AgentState):
        amount: int = 0
        approved: bool = False
        note: str = ""
        tags: list[str] = []

    state = Ticket(messages=[Message.text_message(f"message {i} " * 5) for i in range(messages)], tags=["a"])
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        StateInspector(Ticket).load(state, {"note"})
        samples.append(time.perf_counter() - start)
    return median_ms(samples)


def main() -> None:
    print(f"# notebook view benchmark — {time.strftime('%Y-%m-%d')} — {platform.machine()}, "
          f"Python {platform.python_version()}, dot: {' '.join(dot_module.find_dot())}")
    print("| nodes | first drawing (ms) | step update, widget (ms) | step update, static SVG (ms) |")
    print("|---:|---:|---:|---:|")
    for n in (5, 50, 200):
        widget, static = step_updates(n)
        print(f"| {n} | {first_drawing(n):.1f} | {widget:.3f} | {static:.3f} |")
    print(f"\ninspector build, 1,000 messages: {inspector_build():.1f} ms (goal < 200 ms)")


if __name__ == "__main__":
    main()
