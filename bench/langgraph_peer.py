"""The same workloads on LangGraph (InMemorySaver, SqliteSaver on a file)."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from pathlib import Path
from typing import Annotated, TypedDict

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from bench import scratch

NAME = "LangGraph"
_ids = itertools.count()


class Count(TypedDict):
    counter: int


class Chat(TypedDict):
    messages: Annotated[list, add_messages]


#: More savers by kind, each a factory of a saver (bench/pg.py adds "pg": PostgresSaver).
EXTRA: dict = {}


def saver(kind: str, folder: Path | None = None):
    if kind in EXTRA:
        return EXTRA[kind]()
    if kind == "none":
        return None
    if kind == "memory":
        return InMemorySaver()
    folder = folder or scratch.folder("lg-bench-")
    return SqliteSaver(sqlite3.connect(str(folder / "checkpoints.sqlite"), check_same_thread=False))


def _config(prefix: str, steps: int) -> dict:
    return {"configurable": {"thread_id": f"{prefix}{next(_ids)}"}, "recursion_limit": steps + 5}


def loop(kind: str, steps: int, folder: Path | None = None):
    graph = StateGraph(Count)
    graph.add_node("step", lambda s: {"counter": s["counter"] + 1})
    graph.add_edge(START, "step")
    graph.add_conditional_edges("step", lambda s: "step" if s["counter"] < steps else END, ["step", END])
    app = graph.compile(checkpointer=saver(kind, folder))

    def run() -> int:
        app.invoke({"counter": 0}, _config("t", steps))
        return steps

    return run


def loop_async(kind: str, steps: int, folder: Path | None = None):
    graph = StateGraph(Count)

    async def step(state: Count) -> dict:
        return {"counter": state["counter"] + 1}

    graph.add_node("step", step)
    graph.add_edge(START, "step")
    graph.add_conditional_edges("step", lambda s: "step" if s["counter"] < steps else END, ["step", END])
    if kind == "file":
        raise ValueError("the async file saver of LangGraph needs aiosqlite; not measured")
    app = graph.compile(checkpointer=saver(kind, folder))

    def run() -> int:
        asyncio.run(app.ainvoke({"counter": 0}, _config("a", steps)))
        return steps

    return run


def growth(kind: str, size: int, steps: int, folder: Path | None = None) -> list[float]:
    graph = StateGraph(Chat)
    graph.add_node("talk", lambda s: {"messages": [AIMessage("one more line of the conversation")]})
    graph.add_edge(START, "talk")
    target = [size]
    graph.add_conditional_edges("talk", lambda s: "talk" if len(s["messages"]) < target[0] else END, ["talk", END])
    app = graph.compile(checkpointer=saver(kind, folder))
    config = _config("g", steps)
    app.invoke({"messages": [HumanMessage(f"earlier message {i}") for i in range(size - 1)]}, config)
    target[0] = size + steps
    stamps = []
    for _ in app.stream({"messages": [HumanMessage("go on")]}, config, stream_mode="updates"):
        stamps.append(time.perf_counter())
    return stamps


def roundtrip():
    graph = StateGraph(Count)
    graph.add_node("prepare", lambda s: {"counter": s["counter"] + 1})
    graph.add_node("act", lambda s: {"counter": s["counter"] + 1})
    graph.add_edge(START, "prepare")
    graph.add_edge("prepare", "act")
    graph.add_edge("act", END)
    app = graph.compile(checkpointer=InMemorySaver(), interrupt_before=["act"])

    def run() -> None:
        config = _config("r", 5)
        app.invoke({"counter": 0}, config)
        assert app.get_state(config).next == ("act",)
        assert app.invoke(None, config)["counter"] == 2

    return run


def history_app(count: int):
    graph = StateGraph(Count)
    graph.add_node("step", lambda s: {"counter": s["counter"] + 1})
    graph.add_edge(START, "step")
    graph.add_conditional_edges("step", lambda s: "step" if s["counter"] < count - 2 else END, ["step", END])
    app = graph.compile(checkpointer=InMemorySaver())
    config = _config("h", count)
    app.invoke({"counter": 0}, config)
    return (lambda: list(app.get_state_history(config))), len(list(app.get_state_history(config)))


def resume_graph(folder: str, checkpointer=None):
    graph = StateGraph(Count)
    graph.add_node("step", lambda s: {"counter": s["counter"] + 1})
    graph.add_node("finish", lambda s: {"counter": s["counter"] + 1})
    graph.add_edge(START, "step")
    graph.add_conditional_edges("step", lambda s: "step" if s["counter"] < 1000 else "finish", ["step", "finish"])
    graph.add_edge("finish", END)
    if checkpointer is None:
        connection = sqlite3.connect(str(Path(folder) / "checkpoints.sqlite"), check_same_thread=False)
        checkpointer = SqliteSaver(connection)
    return graph.compile(checkpointer=checkpointer, interrupt_before=["finish"])


def make_long_thread(folder: str, checkpointer=None) -> None:
    app = resume_graph(folder, checkpointer)
    config = {"configurable": {"thread_id": "long"}, "recursion_limit": 1005}
    app.invoke({"counter": 0}, config)
    assert app.get_state(config).next == ("finish",)


RESUME = """
import time
from bench.langgraph_peer import resume_graph
start = time.perf_counter()
app = resume_graph(FOLDER)
result = app.invoke(None, {"configurable": {"thread_id": "long"}})
assert result["counter"] == 1001, result
print(time.perf_counter() - start)
"""
