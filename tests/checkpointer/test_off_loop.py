"""The file store's async methods keep blocking file work off the event loop, but a sync
`invoke` on its private loop does it inline (no thread hop where nothing else waits)."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from agentflow_nb import _sync
from agentflow_nb.checkpointer import chains
from agentflow_nb.checkpointer import file as file_module
from tests.checkpointer.workers import build_slow


@pytest.fixture
def file_work(monkeypatch):
    """Where each write, fsync and read of a thread file happened: (what, thread, loop running there)."""
    seen: list[tuple[str, threading.Thread, bool]] = []

    def spy(what, real):
        def wrapper(*args, **kwargs):
            try:
                asyncio.get_running_loop()
                on_loop = True
            except RuntimeError:
                on_loop = False
            seen.append((what, threading.current_thread(), on_loop))
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(file_module, "write_all", spy("write", file_module.write_all))
    monkeypatch.setattr(os, "fsync", spy("fsync", os.fsync))
    monkeypatch.setattr(chains.ThreadFile, "read", spy("read", chains.ThreadFile.read))
    return seen


def test_ainvoke_in_the_callers_loop_does_no_file_work_on_that_loop(tmp_path, file_work):
    app = build_slow(str(tmp_path), steps=3, delay=0)
    beats = []

    async def heartbeat(stop: asyncio.Event):
        while not stop.is_set():
            beats.append(1)
            await asyncio.sleep(0)

    async def scenario():
        stop = asyncio.Event()
        beating = asyncio.create_task(heartbeat(stop))
        await app.ainvoke({"messages": []}, config={"thread_id": "t"})
        await app.ainvoke({}, config={"thread_id": "t"})
        await app.aget_state_history({"thread_id": "t"})
        stop.set()
        await beating

    asyncio.run(scenario())
    kinds = {what for what, _, _ in file_work}
    assert {"write", "fsync", "read"} <= kinds
    assert not [w for w in file_work if w[2]], file_work  # none on a running loop
    assert beats  # the caller's loop ran meanwhile


def test_a_sync_invoke_on_its_private_loop_does_file_work_inline(tmp_path, file_work):
    app = build_slow(str(tmp_path), steps=3, delay=0)
    assert app.plain and _sync.free()
    app.invoke({"messages": []}, config={"thread_id": "t"})
    here = threading.current_thread()
    assert file_work and all(thread is here for _, thread, _ in file_work)  # no hop to a worker


def test_a_sync_invoke_inside_a_running_loop_keeps_file_work_off_the_shared_loop(tmp_path, file_work):
    app = build_slow(str(tmp_path), steps=3, delay=0)

    async def cell():  # as in a notebook: a sync call from inside a running loop
        return app.invoke({"messages": []}, config={"thread_id": "t"})

    assert asyncio.run(cell())["status"].value == "completed"
    assert file_work and not [w for w in file_work if w[2]]
    assert not [w for w in file_work if w[1].name == "agentflow-loop"]  # the shared loop's thread
