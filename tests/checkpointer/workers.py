"""Programs the cross-process tests run in child processes: `python -m tests.checkpointer.workers`.

    workers drive FOLDER THREAD     run the long graph to the end, answering every pause
    workers drive-big FOLDER THREAD the same, every fifth step adding a 1.2 MB message (long lines)
    workers hold FOLDER THREAD      run a slow graph (prints "running" once it holds the thread)
    workers stopper FOLDER THREAD   call stop() on the thread over and over until stdin closes

With AGENTFLOW_TEST_NO_FCNTL=1 in the environment the worker runs as on a system without the
POSIX lock module (the store then uses its portable fallback lock).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time

if os.environ.get("AGENTFLOW_TEST_NO_FCNTL") == "1":
    sys.modules["fcntl"] = None  # type: ignore[assignment]  # `import fcntl` now fails

from agentflow_nb import END, START, AgentState, BaseCheckpointer, FileCheckpointer, Message, StateGraph

STEPS = 40
REVIEW_EVERY = 10


class Progress(AgentState):
    counter: int = 0
    log: list[int] = []
    blob: list[str] = []


BIG = 1_200_000  # characters in every fifth message of the long-line variant: lines over 1 MiB


def work(state: Progress) -> dict:
    time.sleep(0.004)
    n = state.counter
    big = os.environ.get("AGENTFLOW_TEST_BIG") == "1" and n % 5 == 2
    text = f"step {n}" + (f" {n % 10}" * (BIG // 2) if big else "")
    return {
        "counter": n + 1,
        "log": [*state.log, n],
        "blob": [*state.blob[-50:], f"payload {n} " * 8],
        "messages": [Message.text_message(text, role="assistant")],
    }


def route(state: Progress) -> str:
    if state.counter >= STEPS:
        return END
    return "REVIEW" if state.counter % REVIEW_EVERY == 0 else "WORK"


def build_long(folder: str):
    graph = StateGraph(Progress)
    graph.add_node("WORK", work)
    graph.add_node("REVIEW", lambda state: None)
    graph.add_edge(START, "WORK")
    graph.add_conditional_edges("WORK", route, {"WORK": "WORK", "REVIEW": "REVIEW", END: END})
    graph.add_edge("REVIEW", "WORK")
    return graph.compile(checkpointer=FileCheckpointer(folder), interrupt_before=["REVIEW"])


def human(counter: int) -> Message:
    """The human's answer at the pause before REVIEW at `counter` (the same id every time)."""
    return Message(message_id=f"human-{counter}", role="user", content=f"reviewed at {counter}")


def drive(folder: str, thread: str) -> dict:
    """Run the thread to the end from wherever it was left, answering each pause once."""
    app = build_long(folder)
    config = {"thread_id": thread}
    while True:
        saved = app.get_state(config)
        if saved is None:
            start = Message(message_id="human-start", role="user", content="start")
            result = app.invoke({"messages": [start]}, config=config)
        elif saved.status.value == "completed":
            return outcome(saved.state)
        elif saved.state.execution_meta.is_interrupted():
            result = app.invoke({"messages": [human(saved.state.counter)]}, config=config)
        else:  # running or error: the last process died mid-run
            result = app.invoke({}, config=config)
        if result["status"].value == "completed":
            return outcome(result["state"])


def outcome(state: Progress) -> dict:
    return {
        "counter": state.counter,
        "log": state.log,
        "messages": [[m.role, hashlib.sha256(m.content.encode()).hexdigest()[:16]] for m in state.messages],
        "ids": [m.message_id for m in state.messages if m.role == "user"],
    }


def build_slow(folder: str | BaseCheckpointer, steps: int = 30, delay: float = 0.1):
    """`S0 -> S1 -> ... -> END`; each node sleeps `delay` and appends a message. `folder` is a
    FileCheckpointer's folder, or a checkpointer."""
    graph = StateGraph()
    names = [f"S{i}" for i in range(steps)]
    for name in names:
        def node(state, name=name):
            time.sleep(delay)
            return Message.text_message(f"{name} done", role="assistant")

        graph.add_node(name, node)
    order = [START, *names, END]
    for a, b in zip(order, order[1:], strict=False):
        graph.add_edge(a, b)
    saver = folder if isinstance(folder, BaseCheckpointer) else FileCheckpointer(folder)
    return graph.compile(checkpointer=saver)


def hold(folder: str, thread: str) -> dict:
    """Run the slow graph; say "running" once it holds the thread."""
    app = build_slow(folder)
    config = {"thread_id": thread, "recursion_limit": 100}
    for chunk in app.stream({"messages": [Message.text_message("go")]}, config=config):
        if chunk.event_type == "node_start" and chunk.node == "S0":
            print("running", flush=True)
    final = app.get_state(config)
    return {"status": final.status.value, "step": final.step}


def stopper(folder: str, thread: str) -> dict:
    """Ask the thread to stop as fast as possible until the parent closes our stdin."""
    app = build_slow(folder)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    print("ready", flush=True)
    asked = 0
    while not done.is_set():
        app.stop({"thread_id": thread})
        asked += 1
    return {"stops": asked}


if __name__ == "__main__":
    command, folder, thread = sys.argv[1:4]
    if command == "drive-big":
        os.environ["AGENTFLOW_TEST_BIG"], command = "1", "drive"
    result = {"drive": drive, "hold": hold, "stopper": stopper}[command](folder, thread)
    print(json.dumps(result), flush=True)
