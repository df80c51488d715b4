"""Programs the PostgreSQL tests run in child processes: `python -m tests.checkpointer.pg_workers`.

    pg_workers slow DSN SCHEMA THREAD [listen|nolisten]   run a slow 12-node graph; prints
                                                          "node N" as each node starts
    pg_workers setup DSN SCHEMA GO_FILE                   wait until GO_FILE exists, then setup()
    pg_workers resume_own DSN SCHEMA THREAD               resume `own_conversation_app` on THREAD;
                                                          prints each conversation after the run
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from agentflow_nb import END, START, AgentState, Message, PgCheckpointer, StateGraph
from agentflow_nb.checkpointer.base import BaseCheckpointer
from agentflow_nb.graph.compiled import CompiledGraph
from tests.checkpointer import workers

SLOW_NODES = 12
SLOW_DELAY = 0.25


def build_slow(saver: PgCheckpointer, steps: int = SLOW_NODES, delay: float = SLOW_DELAY):
    """The file tests' slow graph, on `saver`."""
    return workers.build_slow(saver, steps, delay)


def slow(dsn: str, schema: str, thread: str, mode: str = "listen") -> dict:
    """Run the slow graph on `thread`, saying which node starts; the final status and step."""
    with PgCheckpointer(dsn, schema=schema, owner_name="slow-worker", listen=mode == "listen",
                        lease_seconds=8) as saver:
        app = build_slow(saver)
        config = {"thread_id": thread, "recursion_limit": 100}
        for chunk in app.stream({"messages": [Message.text_message("go")]}, config=config):
            if chunk.event_type == "node_start":
                print(f"node {chunk.node}", flush=True)
        final = app.get_state(config)
        return {"status": final.status.value, "step": final.step}


def own_conversation_app(saver: BaseCheckpointer) -> CompiledGraph:
    """A WRITER subgraph keeping its own conversation (`share_messages=False`), which pauses
    before its REVIEW node after CRITIC said "inner note"; the root then says "done"."""
    inner = StateGraph(AgentState)
    inner.add_node("CRITIC", lambda s: "inner note")
    inner.add_node("REVIEW", lambda s: f"review of {len(s.messages)}")
    inner.add_edge(START, "CRITIC").add_edge("CRITIC", "REVIEW").add_edge("REVIEW", END)
    outer = StateGraph(AgentState)
    outer.add_node("WRITER", inner.compile(interrupt_before=["REVIEW"]), share_messages=False)
    outer.add_node("DONE", lambda s: f"done after {len(s.messages)}")
    outer.add_edge(START, "WRITER").add_edge("WRITER", "DONE").add_edge("DONE", END)
    return outer.compile(checkpointer=saver)


def resume_own(dsn: str, schema: str, thread: str) -> dict:
    """Resume `own_conversation_app` on a thread paused in WRITER; what each checkpoint holds."""
    with PgCheckpointer(dsn, schema=schema) as saver:
        app = own_conversation_app(saver)
        config = {"thread_id": thread}
        app.invoke({}, config=config)
        history = app.get_state_history(config)
        return {"status": history[0].status.value,
                "root": [[m.content for m in c.state.messages] for c in history],
                "writer": [[m.content for m in c.state_at("WRITER").messages] for c in history if c.frames]}


def setup(dsn: str, schema: str, go_file: str) -> dict:
    """Wait for the signal, then migrate: several of these start at once."""
    saver = PgCheckpointer(dsn, schema=schema)
    try:
        while not Path(go_file).exists():
            time.sleep(0.005)
        return {"applied": saver.setup()}
    finally:
        saver.close()


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    result = {"slow": slow, "setup": setup, "resume_own": resume_own}[command](*args)
    print(json.dumps(result), flush=True)
