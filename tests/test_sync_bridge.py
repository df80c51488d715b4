"""Sync calls work from plain code, worker threads, and inside a running event loop; where nodes run."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading

import pytest

from agentflow_nb import ExecutionStatus, InMemoryCheckpointer, Message, NodeError, StateGraph
from agentflow_nb.publisher import BasePublisher
from tests.conftest import build_approval_agent, recorder


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


def where_nodes_run(checkpointer=None, node_kind="sync"):
    """A two-node graph whose nodes record the thread they ran in."""
    seen: list[int] = []

    def sync_node(state):
        seen.append(threading.get_ident())

    async def async_node(state):
        seen.append(threading.get_ident())

    graph = StateGraph()
    graph.add_node("FIRST", sync_node)
    graph.add_node("SECOND", sync_node if node_kind == "sync" else async_node)
    return graph.compile(checkpointer=checkpointer or InMemoryCheckpointer()), seen


def test_a_plain_graph_runs_its_sync_nodes_in_the_calling_thread():
    app, seen = where_nodes_run()
    here = threading.get_ident()
    app.invoke({"messages": []}, config={"thread_id": "inv"})
    list(app.stream({"messages": []}, config={"thread_id": "str"}))
    assert app.plain and seen == [here] * 4


def test_elsewhere_sync_nodes_run_in_a_worker_thread():
    here = threading.get_ident()

    app, seen = where_nodes_run()
    asyncio.run(app.ainvoke({"messages": []}, config={"thread_id": "own-loop"}))  # the caller's loop stays free

    async def cell():  # inside a running loop: the background loop, nodes in workers
        return app.invoke({"messages": []}, config={"thread_id": "cell"})

    asyncio.run(cell())
    assert len(seen) == 4 and here not in seen


class LoopBoundSaver(InMemoryCheckpointer):
    any_loop = False  # as a store holding an async client or pool would be


@pytest.mark.parametrize("why", ["async node", "loop-bound checkpointer", "async publisher"])
def test_a_graph_that_needs_one_loop_runs_on_the_background_loop(why):
    class AsyncPublisher(BasePublisher):
        async def publish(self, event):
            return None

    if why == "async node":
        app, seen = where_nodes_run(node_kind="async")
    elif why == "loop-bound checkpointer":
        app, seen = where_nodes_run(LoopBoundSaver())
    else:
        app, seen = where_nodes_run()
        app = app.builder.compile(publisher=AsyncPublisher())
    result = app.invoke({"messages": []}, config={"thread_id": "bg"})
    assert result["status"] is ExecutionStatus.COMPLETED and not app.plain
    assert threading.get_ident() not in seen


def test_ctrl_c_in_a_node_run_in_the_calling_thread_loses_nothing():
    calls, make = recorder()
    interrupted = []

    def flaky(state):
        calls.append("FLAKY")
        if not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt  # what Ctrl-C raises inside a running sync node

    graph = StateGraph()
    graph.add_node("BEFORE", make("BEFORE", {"count": 1}))
    graph.add_node("FLAKY", flaky)
    graph.add_node("AFTER", make("AFTER"))
    app = graph.compile()
    config = {"thread_id": "ctrl-c"}
    with pytest.raises(KeyboardInterrupt):
        app.invoke({"messages": []}, config=config)
    saved = app.get_state(config)
    assert saved.state.count == 1 and saved.node == "BEFORE"  # the step before is kept
    result = app.invoke({}, config=config)  # not busy: the run let go of the thread
    assert result["status"] is ExecutionStatus.COMPLETED
    assert calls == ["BEFORE", "FLAKY", "FLAKY", "AFTER"]


def test_an_abandoned_sync_stream_lets_go_of_its_thread():
    app = build_approval_agent(interrupt_before=[])
    config = {"thread_id": "abandoned"}
    stream = app.stream({"messages": [Message.text_message("go")]}, config=config)
    assert next(stream).event_type == "node_start"
    stream.close()  # here, in plain code
    assert app.invoke({}, config=config)["status"] is ExecutionStatus.COMPLETED

    stream = app.stream({"messages": [Message.text_message("again")]}, config={"thread_id": "collected"})
    next(stream)

    async def collected_inside_a_loop():  # the garbage collector may finalise it anywhere
        nonlocal stream
        del stream
        gc.collect()

    asyncio.run(collected_inside_a_loop())
    assert app.invoke({}, config={"thread_id": "collected"})["status"] is ExecutionStatus.COMPLETED


def test_a_sync_node_may_call_the_sync_api_of_a_graph():
    inner = build_approval_agent(interrupt_before=[])

    def calls_sync(state):
        done = inner.invoke({"messages": [Message.text_message("inner")]}, config={"thread_id": "inner"})
        return {"inner_status": done["status"].value}

    graph = StateGraph()
    graph.add_node("OUTER", calls_sync)
    result = graph.compile().invoke({"messages": []}, config={"thread_id": "outer"})
    assert result["state"].inner_status == "completed"
