"""The workloads on agentflow_nb."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

from agentflow_nb import END, START, AgentState, FileCheckpointer, InMemoryCheckpointer, Message, StateGraph
from agentflow_nb.checkpointer.base import BaseCheckpointer, Checkpoint, StateChanges
from bench import scratch

NAME = "agentflow_nb"
_ids = itertools.count()


class NoCheckpointer(BaseCheckpointer):
    """Keeps the newest state object of each thread and nothing else: the engine's own cost."""

    any_loop = True

    def __init__(self) -> None:
        super().__init__()
        self.latest: dict[str, Checkpoint] = {}

    async def aput(self, checkpoint: Checkpoint, *, changes: StateChanges | None = None) -> None:
        self.latest[checkpoint.thread_id] = checkpoint

    async def aget(self, thread_id: str, checkpoint_id: str | None = None, *, schema: Any = AgentState):
        return self.latest.get(thread_id)

    async def alist(self, thread_id: str, *, schema: Any = AgentState, limit: int | None = None):
        return [self.latest[thread_id]] if thread_id in self.latest else []

    async def athreads(self) -> list[str]:
        return list(self.latest)


class Count(AgentState):
    counter: int = 0


#: More stores by kind, each a factory of a fresh, empty store (bench/pg.py adds "pg").
EXTRA: dict[str, Any] = {}


def saver(kind: str, folder: Path | None = None) -> BaseCheckpointer:
    if kind in EXTRA:
        return EXTRA[kind]()
    if kind == "none":
        return NoCheckpointer()
    if kind == "memory":
        return InMemoryCheckpointer()
    return FileCheckpointer(folder or scratch.folder("af-bench-"))


def loop(kind: str, steps: int, folder: Path | None = None):
    """One run of a `steps`-step loop graph per call, each on a new thread."""
    graph = StateGraph(Count)
    graph.add_node("STEP", lambda s: {"counter": s.counter + 1})
    graph.add_edge(START, "STEP")
    graph.add_conditional_edges("STEP", lambda s: "STEP" if s.counter < steps else END, {"STEP": "STEP", END: END})
    app = graph.compile(checkpointer=saver(kind, folder))

    def run() -> int:
        app.invoke({"counter": 0}, config={"thread_id": f"t{next(_ids)}", "recursion_limit": steps + 5})
        return steps

    return run


def loop_async(kind: str, steps: int, folder: Path | None = None):
    """The same loop with an async node, run by `ainvoke` in the caller's event loop."""
    graph = StateGraph(Count)

    async def step(state: Count) -> dict:
        return {"counter": state.counter + 1}

    graph.add_node("STEP", step)
    graph.add_edge(START, "STEP")
    graph.add_conditional_edges("STEP", lambda s: "STEP" if s.counter < steps else END, {"STEP": "STEP", END: END})
    app = graph.compile(checkpointer=saver(kind, folder))

    def run() -> int:
        config = {"thread_id": f"a{next(_ids)}", "recursion_limit": steps + 5}
        asyncio.run(app.ainvoke({"counter": 0}, config=config))
        return steps

    return run


def growth(kind: str, size: int, steps: int, folder: Path | None = None) -> list[float]:
    """Times at which each of `steps` steps ended, on a thread already holding `size` messages."""
    graph = StateGraph()
    graph.add_node("TALK", lambda s: Message.text_message("one more line of the conversation", role="assistant"))
    graph.add_edge(START, "TALK")
    graph.add_conditional_edges("TALK", lambda s: "TALK" if len(s.messages) < target[0] else END,
                                {"TALK": "TALK", END: END})
    app = graph.compile(checkpointer=saver(kind, folder))
    config = {"thread_id": f"g{next(_ids)}", "recursion_limit": steps + 5}
    history = [Message.text_message(f"earlier message {i}") for i in range(size - 1)]
    target = [size]
    app.invoke({"messages": history}, config=config)  # the thread now holds `size` messages
    target[0] = size + steps
    stamps = []
    for chunk in app.stream({"messages": [Message.text_message("go on")]}, config=config):
        if chunk.event_type == "node_end":
            stamps.append(time.perf_counter())
    return stamps


def roundtrip():
    """invoke to a breakpoint, then resume to the end, on a new thread each call."""
    graph = StateGraph(Count)
    graph.add_node("PREPARE", lambda s: {"counter": s.counter + 1})
    graph.add_node("ACT", lambda s: {"counter": s.counter + 1})
    app = graph.compile(checkpointer=InMemoryCheckpointer(), interrupt_before=["ACT"])

    def run() -> None:
        config = {"thread_id": f"r{next(_ids)}"}
        assert app.invoke({"counter": 0}, config=config)["interrupted"]
        assert app.invoke({}, config=config)["state"].counter == 2

    return run


def history_app(count: int):
    """A thread with about `count` checkpoints, and a function that reads its whole history."""
    graph = StateGraph(Count)
    graph.add_node("STEP", lambda s: {"counter": s.counter + 1})
    graph.add_edge(START, "STEP")
    graph.add_conditional_edges("STEP", lambda s: "STEP" if s.counter < count - 1 else END, {"STEP": "STEP", END: END})
    app = graph.compile()
    config = {"thread_id": "history", "recursion_limit": count + 5}
    app.invoke({"counter": 0}, config=config)
    return (lambda: app.get_state_history(config)), len(app.get_state_history(config))


def resume_graph(folder: str, checkpointer: BaseCheckpointer | None = None):
    """1,000 steps, then a pause before FINISH; a new process resumes it."""
    graph = StateGraph(Count)
    graph.add_node("STEP", lambda s: {"counter": s.counter + 1})
    graph.add_node("FINISH", lambda s: {"counter": s.counter + 1})
    graph.add_edge(START, "STEP")
    graph.add_conditional_edges("STEP", lambda s: "STEP" if s.counter < 1000 else "FINISH",
                                {"STEP": "STEP", "FINISH": "FINISH"})
    graph.add_edge("FINISH", END)
    return graph.compile(checkpointer=checkpointer or FileCheckpointer(folder), interrupt_before=["FINISH"])


def make_long_thread(folder: str, checkpointer: BaseCheckpointer | None = None) -> None:
    app = resume_graph(folder, checkpointer)
    result = app.invoke({"counter": 0}, config={"thread_id": "long", "recursion_limit": 1005})
    assert result["interrupted"] and result["state"].counter == 1000


RESUME = """
import time
from bench.ours import resume_graph
start = time.perf_counter()
app = resume_graph(FOLDER)
result = app.invoke({}, config={"thread_id": "long"})
assert result["state"].counter == 1001, result
print(time.perf_counter() - start)
"""
