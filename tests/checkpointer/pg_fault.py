"""The fault test's worker: `python -m tests.checkpointer.pg_fault DSN SCHEMA LEDGER_DIR THREADS`.

It runs every thread of the approval graph it can get until all of them are complete. Each
work node first appends `thread node pid` to this process's ledger file (the external side
effect), then records itself in the state. The REVIEW node pauses until a human approves.
"""

from __future__ import annotations

import os
import random
import sys
import time

from agentflow_nb import (
    END,
    START,
    AgentState,
    ExecutionStatus,
    Message,
    PgCheckpointer,
    StateGraph,
    ThreadBusyError,
    ThreadConflictError,
)

WORK = [f"N{i}" for i in range(1, 10)]  # nine work nodes; REVIEW sits after N4: ten in all
ORDER = [*WORK[:4], "REVIEW", *WORK[4:]]
LEASE_SECONDS = 5.0


class Job(AgentState):
    done: list[str] = []
    approved: bool = False


def thread_ids(count: int) -> list[str]:
    return [f"job-{i:03d}" for i in range(count)]


def build(saver: PgCheckpointer, ledger_fd: int | None = None):
    graph = StateGraph(Job)
    for name in WORK:
        def work(state: Job, name: str = name) -> dict:
            if ledger_fd is not None:  # one small O_APPEND write: whole or not at all
                os.write(ledger_fd, f"{state.execution_meta.thread_id} {name} {os.getpid()}\n".encode())
            time.sleep(0.01)
            return {"done": [*state.done, name]}

        graph.add_node(name, work)

    def review(state: Job) -> Job:
        if not state.approved:
            state.set_interrupt("REVIEW", "needs approval", ExecutionStatus.INTERRUPTED_BEFORE)
        return state

    graph.add_node("REVIEW", review)
    path = [START, *ORDER, END]
    for a, b in zip(path, path[1:], strict=False):
        graph.add_edge(a, b)
    return graph.compile(checkpointer=saver)


def work_through(dsn: str, schema: str, ledger_dir: str, count: int) -> None:
    pid = os.getpid()
    fd = os.open(os.path.join(ledger_dir, f"ledger-{pid}.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    saver = PgCheckpointer(dsn, schema=schema, owner_name=f"worker {pid}", lease_seconds=LEASE_SECONDS,
                           retry_seconds=90, max_connections=2)
    app = build(saver, fd)
    ids = thread_ids(count)
    rng = random.Random(pid)
    while True:
        left = 0
        rng.shuffle(ids)
        for thread in ids:
            config = {"thread_id": thread, "recursion_limit": 50}
            saved = app.get_state(config)
            if saved is not None and saved.status is ExecutionStatus.COMPLETED:
                continue
            left += 1
            if saved is not None and saved.status is ExecutionStatus.INTERRUPTED_BEFORE and not saved.state.approved:
                continue  # waiting for the human
            start = {"messages": [Message(message_id=f"start-{thread}", role="user", content="go")]}
            try:
                app.invoke(start if saved is None else {}, config=config)
            except (ThreadBusyError, ThreadConflictError):
                continue  # another worker has it
        if left == 0:
            return
        time.sleep(0.05)


if __name__ == "__main__":
    dsn, schema, ledger_dir, count = sys.argv[1:5]
    work_through(dsn, schema, ledger_dir, int(count))
    print("all complete", flush=True)
