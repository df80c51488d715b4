"""Programs the PostgreSQL tests run in child processes: `python -m tests.checkpointer.pg_workers`.

    pg_workers slow DSN SCHEMA THREAD [listen|nolisten]   run a slow 12-node graph; prints
                                                          "node N" as each node starts
    pg_workers setup DSN SCHEMA GO_FILE                   wait until GO_FILE exists, then setup()
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from agentflow_nb import Message, PgCheckpointer
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
    result = {"slow": slow, "setup": setup}[command](*args)
    print(json.dumps(result), flush=True)
