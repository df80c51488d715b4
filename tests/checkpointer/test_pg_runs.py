"""PgCheckpointer across processes: leases, takeover, the head check, stop, and every way to call it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agentflow_nb import Checkpoint, ExecutionStatus, Message, ThreadBusyError, ThreadConflictError
from agentflow_nb.checkpointer.base import StateChanges
from agentflow_nb.state import AgentState
from tests.checkpointer.pg_workers import SLOW_NODES, build_slow
from tests.conftest import build_approval_agent

ROOT = Path(__file__).resolve().parents[2]
START_INPUT = {"messages": [Message.text_message("refund 30")]}


def wait_for(predicate, what: str, timeout: float = 60.0):
    """Poll `predicate` until it is truthy (no fixed sleeps); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Child:
    """A `pg_workers slow` process whose "node N" lines are collected by a reader thread."""

    def __init__(self, dsn: str, schema: str, thread: str, mode: str = "listen") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.checkpointer.pg_workers", "slow", dsn, schema, thread, mode],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def started(self) -> list[str]:
        return [line.split()[1] for line in self.lines if line.startswith("node ")]

    def finish(self, timeout: float = 120) -> str:
        self.proc.wait(timeout)
        self.reader.join(timeout)
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def children():
    made: list[Child] = []
    yield made
    for child in made:  # reaped also when the test failed
        child.kill()


def test_a_second_worker_gets_thread_busy_naming_the_owner(make_pg):
    first = make_pg(owner_name="worker-A")
    second = make_pg(first.schema, owner_name="worker-B")

    async def scenario():
        async with first.lease("t"):
            assert await second.ais_running("t")
            with pytest.raises(ThreadBusyError, match="in worker `worker-A`") as caught:
                async with second.lease("t"):
                    pass
            assert caught.value.owner == "worker-A"
        assert not await second.ais_running("t")
        async with second.lease("t"):  # released: free for anyone
            pass

    asyncio.run(scenario())


def test_a_dead_workers_lease_expires_and_the_thread_is_taken_over(make_pg, pg_dsn, children):
    saver = make_pg(owner_name="survivor")
    child = Child(pg_dsn, saver.schema, "t")
    children.append(child)
    wait_for(lambda: "S2" in child.started(), "the child to run a few nodes")
    os.kill(child.proc.pid, signal.SIGKILL)
    child.kill()
    app = build_slow(saver, delay=0)
    config = {"thread_id": "t", "recursion_limit": 100}
    with pytest.raises(ThreadBusyError, match="in worker `slow-worker`"):
        app.invoke({}, config=config)  # its lease (8 s) has not expired yet
    wait_for(lambda: not asyncio.run(saver.ais_running("t")), "the dead worker's lease to expire")
    result = app.invoke({}, config=config)  # taken over: goes on from the last checkpoint
    assert result["status"] is ExecutionStatus.COMPLETED
    done = [m.content for m in result["messages"] if m.role == "assistant"]
    assert done == [f"S{i} done" for i in range(SLOW_NODES)]


def test_a_run_whose_lease_was_taken_over_cannot_write(make_pg):
    stale = make_pg(owner_name="stale", lease_seconds=0.5)
    fresh = make_pg(stale.schema, owner_name="fresh")
    first = Checkpoint.of(AgentState(), parent_id=None)._replace(thread_id="t")

    async def scenario():
        async with stale.lease("t"):
            await stale.aput(first)
            stale.leases.close()  # the process hangs: nothing renews its lease any more
            await asyncio.to_thread(wait_for, lambda: not asyncio.run(fresh.ais_running("t")), "expiry")
            async with fresh.lease("t"):
                late = Checkpoint.of(AgentState(), parent_id=first.checkpoint_id)._replace(thread_id="t")
                with pytest.raises(ThreadBusyError, match="took it over after this run's lease expired"):
                    await stale.aput(late, changes=StateChanges())
        return await fresh.aget("t")

    assert asyncio.run(scenario()).checkpoint_id == first.checkpoint_id


def test_two_racing_writers_never_both_append_after_one_checkpoint(make_pg):
    one = make_pg()
    two = make_pg(one.schema)
    base = Checkpoint.of(AgentState(), parent_id=None)._replace(thread_id="t")
    asyncio.run(one.aput(base))
    head = base
    for round_ in range(20):
        asyncio.run(two.aget("t"))  # both writers now know the same head
        asyncio.run(one.aget("t"))
        barrier = threading.Barrier(2)
        outcomes: list[object] = []

        def write(saver, head=head, barrier=barrier, outcomes=outcomes):
            child = Checkpoint.of(AgentState(), parent_id=head.checkpoint_id)._replace(thread_id="t")
            barrier.wait()
            try:
                asyncio.run(saver.aput(child))
                outcomes.append(child)
            except ThreadConflictError as exc:
                outcomes.append(exc)

        workers = [threading.Thread(target=write, args=(s,)) for s in (one, two)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        won = [o for o in outcomes if isinstance(o, Checkpoint)]
        lost = [o for o in outcomes if isinstance(o, ThreadConflictError)]
        assert len(won) == 1 and len(lost) == 1, (round_, outcomes)
        assert f"`{won[0].checkpoint_id}`" in str(lost[0]) and "nothing was saved" in str(lost[0])
        head = won[0]
    history = asyncio.run(one.alist("t"))
    assert len(history) == 21
    assert [c.parent_id for c in history[:-1]] == [c.checkpoint_id for c in history[1:]]  # one line, no forks


@pytest.mark.parametrize("mode", ["listen", "nolisten"])
def test_stop_from_another_process_reaches_the_run_within_one_node(make_pg, pg_dsn, children, mode):
    saver = make_pg()
    saver.setup()
    child = Child(pg_dsn, saver.schema, "t", mode)
    children.append(child)
    app = build_slow(saver)
    wait_for(lambda: "S2" in child.started(), "the child to reach S2")
    assert app.get_state({"thread_id": "t"}) is not None
    assert asyncio.run(saver.ais_running("t"))
    started_before = len(child.started())
    answer = app.stop({"thread_id": "t"})
    assert answer == {"thread_id": "t", "ok": True, "running": True, "status": "stop_requested"}
    err = child.finish()
    assert child.proc.returncode == 0, err
    assert child.lines[-1] == '{"status": "stopped", "step": %d}' % (len(child.started()))
    # the node running when stop() came finishes; at most one more may have started meanwhile
    assert len(child.started()) <= started_before + 1
    assert len(child.started()) < SLOW_NODES
    assert not asyncio.run(saver.ais_running("t"))
    assert app.stop({"thread_id": "t"})["status"] == "not_running"
    result = app.invoke({}, config={"thread_id": "t", "recursion_limit": 100})  # resumes where it stopped
    assert [m.content for m in result["messages"]][-SLOW_NODES:] == [f"S{i} done" for i in range(SLOW_NODES)]


def test_sync_calls_from_many_web_server_threads_share_one_store(make_pg):
    saver = make_pg(max_connections=4)
    app = build_approval_agent(saver)

    def request(i: int) -> ExecutionStatus:
        config = {"thread_id": f"web-{i}"}
        assert app.invoke(START_INPUT, config=config)["interrupted"]
        app.update_state(config, {"messages": [Message.text_message("APPROVED")]})
        return app.invoke({}, config=config)["status"]

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(request, range(24)))
    assert statuses == [ExecutionStatus.COMPLETED] * 24
    assert saver.threads(status="completed") == sorted(f"web-{i}" for i in range(24))


def test_ainvoke_on_the_callers_loop_and_invoke_inside_a_running_loop(make_pg):
    saver = make_pg()
    app = build_approval_agent(saver)

    async def on_my_loop():
        paused = await app.ainvoke(START_INPUT, config={"thread_id": "a"})
        inside = app.invoke(START_INPUT, config={"thread_id": "b"})  # as in a notebook cell
        finished = await asyncio.gather(app.ainvoke({}, config={"thread_id": "a"}),
                                        app.ainvoke({}, config={"thread_id": "b"}))
        return paused, inside, finished

    paused, inside, finished = asyncio.run(on_my_loop())
    assert paused["interrupted"] and inside["interrupted"]
    assert [r["status"] for r in finished] == [ExecutionStatus.COMPLETED] * 2


def test_a_connection_on_a_descriptor_above_1023_still_writes(make_pg):
    """select() cannot watch a descriptor numbered 1024 or more; a busy process reaches that."""
    import resource  # POSIX, as is the server these tests start

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        saver = make_pg()
        app = build_approval_agent(saver)
        result = app.invoke(START_INPUT, config={"thread_id": "high-fd"})
        assert result["status"] is ExecutionStatus.INTERRUPTED_BEFORE
        saved = app.get_state({"thread_id": "high-fd"})
        assert saved.status is ExecutionStatus.INTERRUPTED_BEFORE and saved.state.messages == result["messages"]
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
