"""What a `FileCheckpointer` keeps between runs (offsets, open append files, the stop probe):
bounded, and never trusted once anything else changed the thread's file."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from agentflow_nb import END, START, AgentState, ExecutionStatus, FileCheckpointer, StateGraph
from agentflow_nb.checkpointer import file as file_store
from agentflow_nb.checkpointer import holding


class Count(AgentState):
    counter: int = 0


def pausing(saver: FileCheckpointer):
    """A loop that pauses after every step."""
    graph = StateGraph(Count)
    graph.add_node("STEP", lambda s: {"counter": s.counter + 1})
    graph.add_edge(START, "STEP")
    graph.add_conditional_edges("STEP", lambda s: "STEP" if s.counter < 1000 else END, {"STEP": "STEP", END: END})
    return graph.compile(checkpointer=saver, interrupt_after=["STEP"])


def newest(folder: Path, thread_id: str) -> Count:
    """The thread's newest state, read by a new store (as another process would)."""
    return asyncio.run(FileCheckpointer(folder).aget(thread_id, schema=Count)).state


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_a_thread_file_replaced_between_runs_gets_the_next_step_not_the_file_kept_open(tmp_path):
    store = FileCheckpointer(tmp_path)
    app, config = pausing(store), {"thread_id": "t"}
    app.invoke({"counter": 0}, config)
    path = tmp_path / "t.jsonl"
    shutil.copy(path, tmp_path / "older")  # the thread after one step
    app.invoke({}, config)
    app.invoke({}, config)
    if holding.KEEP_OPEN:
        assert "t" in store._appenders  # the append file is kept open for the next run
    os.replace(tmp_path / "older", path)  # e.g. restored from a backup, by another process
    assert app.invoke({}, config)["state"].counter == 2  # went on from what the file holds
    assert [r["status"] for r in records(path)][-1] == "interrupted_after"
    assert newest(tmp_path, "t").counter == 2
    assert len(records(path)) == 3  # the step went into the file now there


def test_another_store_writing_between_runs_is_seen_and_its_lines_kept(tmp_path):
    mine, other = FileCheckpointer(tmp_path), FileCheckpointer(tmp_path)  # as two processes
    config = {"thread_id": "t"}
    pausing(mine).invoke({"counter": 0}, config)
    assert pausing(other).invoke({}, config)["state"].counter == 2
    assert pausing(mine).invoke({}, config)["state"].counter == 3
    assert [r["step"] for r in records(tmp_path / "t.jsonl")] == [0, 1, 2, 3]  # no line lost or repeated


def test_the_offsets_a_store_keeps_are_bounded_and_a_forgotten_thread_still_appends(tmp_path, monkeypatch):
    monkeypatch.setattr(file_store, "KEEP_THREADS", 3)
    monkeypatch.setattr(file_store, "KEEP_ENTRIES", 4)
    store = FileCheckpointer(tmp_path)
    app = pausing(store)
    for n in range(6):
        app.invoke({"counter": 0}, {"thread_id": f"t{n}"})
    assert list(store._index) == ["t3", "t4", "t5"]  # the most recently used
    for _ in range(20):
        app.invoke({}, {"thread_id": "t5"})
    assert len(store._index["t5"]) <= 2 * 4
    assert app.invoke({}, {"thread_id": "t0"})["state"].counter == 2  # forgotten: read, then appended
    assert newest(tmp_path, "t0").counter == 2
    assert newest(tmp_path, "t5").counter == 21


@pytest.mark.skipif(holding.KEEP_OPEN == 0, reason="no append file is kept open on this OS")
def test_append_files_kept_open_are_bounded_and_closed_with_their_store(tmp_path, monkeypatch):
    monkeypatch.setattr(holding, "KEEP_OPEN", 2)
    store = FileCheckpointer(tmp_path)
    app = pausing(store)
    for n in range(5):
        app.invoke({"counter": 0}, {"thread_id": f"t{n}"})
    kept = store._appenders
    assert list(kept) == ["t3", "t4"]
    fds = [appender.fd for appender in kept.values()]
    del app, store
    gc.collect()
    assert not kept
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)


def test_a_run_on_a_shared_loop_looks_for_a_stop_off_the_loop_once_not_at_every_step(tmp_path, monkeypatch):
    hops = []
    real = holding.off_loop

    async def counting(func, *args):
        hops.append(getattr(func, "__name__", ""))
        return await real(func, *args)

    monkeypatch.setattr(holding, "off_loop", counting)
    graph = StateGraph(Count)
    graph.add_node("STEP", lambda s: {"counter": s.counter + 1})
    graph.add_edge(START, "STEP")
    graph.add_conditional_edges("STEP", lambda s: "STEP" if s.counter < 10 else END, {"STEP": "STEP", END: END})
    app = graph.compile(checkpointer=FileCheckpointer(tmp_path))
    result = asyncio.run(app.ainvoke({"counter": 0}, {"thread_id": "t"}))
    assert result["state"].counter == 10
    assert hops.count("_take_stop_file") == 0  # every boundary comes after a save that looked


def test_a_stop_from_another_store_reaches_a_shared_loop_run_at_its_next_node_boundary(tmp_path):
    other = FileCheckpointer(tmp_path)  # as another process

    def step(state: Count) -> dict:
        if state.counter == 3:  # ask from another thread, as another process would, while the node runs
            asker = threading.Thread(target=lambda: asyncio.run(other.arequest_stop("t")))
            asker.start()
            asker.join()
        return {"counter": state.counter + 1}

    graph = StateGraph(Count)
    graph.add_node("STEP", step)
    graph.add_edge(START, "STEP")
    graph.add_conditional_edges("STEP", lambda s: "STEP" if s.counter < 10 else END, {"STEP": "STEP", END: END})
    app = graph.compile(checkpointer=FileCheckpointer(tmp_path))
    result = asyncio.run(app.ainvoke({"counter": 0}, {"thread_id": "t"}))
    assert result["status"] is ExecutionStatus.STOPPED and result["state"].counter == 4
    assert not (tmp_path / "t.stop").exists()  # used once
    resumed = asyncio.run(app.ainvoke({}, {"thread_id": "t"}))
    assert resumed["status"] is ExecutionStatus.COMPLETED and resumed["state"].counter == 10


@pytest.mark.skipif(holding.KEEP_OPEN == 0, reason="no lock file is kept open on this OS")
def test_a_lock_file_kept_open_but_removed_meanwhile_never_lets_two_runs_hold_the_thread(tmp_path):
    from agentflow_nb import ThreadBusyError

    store = FileCheckpointer(tmp_path)
    app, config = pausing(store), {"thread_id": "t"}
    app.invoke({"counter": 0}, config)
    assert "t" in store._lock_files  # kept open between runs
    (tmp_path / "t.lock").unlink()  # e.g. a folder cleaned up by hand

    async def other_holds_then_we_try():
        async with FileCheckpointer(tmp_path).lease("t"):  # as another process: a new lock file
            with pytest.raises(ThreadBusyError):
                await app.ainvoke({}, config)
        return await app.ainvoke({}, config)

    assert asyncio.run(other_holds_then_we_try())["state"].counter == 2


@pytest.mark.skipif(holding.KEEP_OPEN == 0 or not hasattr(os, "fork"), reason="no fork, or nothing kept open")
def test_a_forked_child_never_shares_the_lock_its_parent_holds_through_a_kept_lock_file(tmp_path):
    from agentflow_nb import ThreadBusyError

    store = FileCheckpointer(tmp_path)
    pausing(store).invoke({"counter": 0}, {"thread_id": "t"})  # the lock file is now kept open
    go_read, go_write = os.pipe()
    said_read, said_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's store, copied; tries the thread once the parent holds it
        answer = b"?"
        try:
            os.close(go_write)  # so that the parent closing its end, whatever happens, ends this wait
            os.read(go_read, 1)

            async def attempt():
                async with store.lease("t"):
                    pass

            try:
                asyncio.run(attempt())
                answer = b"held"  # the parent's lock was taken as its own: two holders
            except ThreadBusyError:
                answer = b"busy"
        finally:
            os.write(said_write, answer)
            os._exit(0)
    os.close(said_write)
    try:
        async def hold_while_the_child_tries():
            async with store.lease("t"):
                os.write(go_write, b"g")
                return os.read(said_read, 8)

        assert asyncio.run(hold_while_the_child_tries()) == b"busy"
    finally:
        os.close(go_write)
        os.waitpid(pid, 0)
        os.close(go_read)
        os.close(said_read)
