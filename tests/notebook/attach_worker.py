"""The worker process the attach tests debug from the notebook side:
`python -m tests.notebook.attach_worker FOLDER THREAD`.

It runs one thread of `build(FOLDER)` with a `FileCheckpointer`: `FETCH`, then `SLOW_1` and
`SLOW_2`, each of which waits until the test creates `FOLDER/release-<n>` (so the test decides
when the run moves on, with no timing guesses), then `REPORT`. It prints "done <status>" at the end.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from agentflow_nb import END, START, AgentState, FileCheckpointer, Message, StateGraph


class Job(AgentState):
    fetched: int = 0
    slow: list[int] = []
    approved: bool = False


def released(folder: Path, n: int) -> None:
    deadline = time.monotonic() + 120
    while not (folder / f"release-{n}").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"release-{n} never came")
        time.sleep(0.02)


def build(folder: str | Path):
    folder = Path(folder)

    def slow(n: int):
        def node(state: Job) -> dict:
            released(folder, n)
            return {"slow": [*state.slow, n]}

        return node

    graph = StateGraph(Job)
    graph.add_node("FETCH", lambda state: {"fetched": 3})
    graph.add_node("SLOW_1", slow(1))
    graph.add_node("SLOW_2", slow(2))
    graph.add_node("REPORT", lambda state: f"approved={state.approved} slow={state.slow}")
    graph.add_edge(START, "FETCH").add_edge("FETCH", "SLOW_1").add_edge("SLOW_1", "SLOW_2")
    graph.add_edge("SLOW_2", "REPORT").add_edge("REPORT", END)
    return graph.compile(checkpointer=FileCheckpointer(folder / "threads"))


def main(folder: str, thread: str) -> None:
    app = build(folder)
    result = app.invoke({"messages": [Message.text_message("start")]}, config={"thread_id": thread})
    print("done", result["status"].value, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
