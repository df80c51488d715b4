"""Sync calls work from plain code, worker threads, and inside a running event loop."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from agentflow_nb import ExecutionStatus, Message, NodeError, StateGraph
from tests.conftest import build_approval_agent


def test_invoke_inside_a_running_event_loop_as_a_notebook_cell_does():
    app = build_approval_agent()

    async def cell():
        # a notebook cell runs synchronously inside the kernel's running loop
        assert asyncio.get_running_loop().is_running()
        paused = app.invoke({"messages": [Message.text_message("go")]}, config={"thread_id": "nb"})
        done = app.invoke({"messages": [Message.text_message("APPROVED")]}, config={"thread_id": "nb"})
        return paused, done

    paused, done = asyncio.run(cell())
    assert paused["interrupted"] and done["status"] is ExecutionStatus.COMPLETED
    assert "nest_asyncio" not in sys.modules


def test_four_invokes_queued_back_to_back_inside_a_running_loop():
    app = build_approval_agent(interrupt_before=[])

    async def cell():
        return [
            app.invoke({"messages": [Message.text_message(f"run {i}")]}, config={"thread_id": f"q{i}"})
            for i in range(4)
        ]

    results = asyncio.run(cell())
    assert [r["status"] for r in results] == [ExecutionStatus.COMPLETED] * 4
    assert [r["messages"][0].content for r in results] == [f"run {i}" for i in range(4)]


def test_stream_and_stop_inside_a_running_loop():
    app = build_approval_agent()

    async def cell():
        chunks = list(app.stream({"messages": [Message.text_message("go")]}, config={"thread_id": "s"}))
        return chunks, app.stop({"thread_id": "s"})

    chunks, stop = asyncio.run(cell())
    assert chunks[-1].event_type == "interrupted" and stop["status"] == "not_running"


def test_invoke_from_many_threads_at_once():
    app = build_approval_agent(interrupt_before=[])
    results = {}

    def worker(i):
        results[i] = app.invoke({"messages": [Message.text_message(str(i))]}, config={"thread_id": f"w{i}"})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(results) == list(range(8))
    assert all(r["status"] is ExecutionStatus.COMPLETED for r in results.values())


def test_a_sync_call_from_an_async_node_says_to_await_the_async_twin():
    inner = build_approval_agent(interrupt_before=[])

    async def calls_sync(state):
        inner.invoke({"messages": []}, config={"thread_id": "inner"})

    graph = StateGraph()
    graph.add_node("OUTER", calls_sync)
    with pytest.raises(NodeError, match="await app.ainvoke") as info:
        graph.compile().invoke({"messages": []}, config={"thread_id": "outer"})
    assert isinstance(info.value.__cause__, RuntimeError)


def test_ainvoke_in_the_callers_own_loop():
    app = build_approval_agent()

    async def main():
        first = await app.ainvoke({"messages": [Message.text_message("go")]}, config={"thread_id": "a"})
        second = await app.ainvoke({"messages": [Message.text_message("APPROVED")]}, config={"thread_id": "a"})
        return first, second

    first, second = asyncio.run(main())
    assert first["interrupted"] and second["state"].executed is True
