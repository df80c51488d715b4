"""Stopping a run from another thread, node errors and retries, and busy threads."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from agentflow_nb import (
    END,
    START,
    ExecutionStatus,
    Message,
    NodeError,
    StateGraph,
    ThreadBusyError,
)

S = ExecutionStatus


def slow_chain(calls, started=None, delay=0.2, length=6):
    """A -> B -> ... nodes that each take `delay` seconds and log when they finish."""
    graph = StateGraph()
    names = [f"N{i}" for i in range(length)]
    for name in names:
        def node(state, name=name):
            if started is not None:
                started.set()
            time.sleep(delay)
            calls.append(name)
            return Message.text_message(f"{name} done", role="assistant")

        graph.add_node(name, node)
    order = [START, *names, END]
    for a, b in zip(order, order[1:]):
        graph.add_edge(a, b)
    return graph.compile(), names


def start(app, target):
    box = {}

    def go():
        try:
            box["result"] = target()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=go)
    thread.start()
    return thread, box


def test_stop_during_invoke_stops_at_the_next_boundary_and_resumes_without_rerunning():
    calls: list[str] = []
    started = threading.Event()
    app, names = slow_chain(calls, started)
    config = {"thread_id": "t"}
    thread, box = start(app, lambda: app.invoke({"messages": [Message.text_message("go")]}, config=config))
    assert started.wait(5)
    status = app.stop(config)
    thread.join(10)
    assert status == {"thread_id": "t", "ok": True, "running": True, "status": "stop_requested"}
    result = box["result"]
    assert result["status"] is S.STOPPED and result["interrupted"] is True
    assert result["interrupt_reason"] == "stop requested"
    assert calls == ["N0"]  # the node in flight finished and its result is kept
    assert result["messages"][-1].content == "N0 done"
    done = app.invoke({}, config=config)
    assert done["status"] is S.COMPLETED and calls == names


def test_stop_during_stream_ends_the_stream_with_a_stopped_chunk_and_no_node_runs_twice():
    calls: list[str] = []
    app, names = slow_chain(calls, delay=0.05)
    config = {"thread_id": "t"}
    kinds = []
    for chunk in app.stream({"messages": [Message.text_message("go")]}, config=config):
        kinds.append(chunk.event_type.value)
        if chunk.event_type == "node_end" and chunk.node == "N2":
            assert app.stop(config)["status"] == "stop_requested"
    assert kinds[-1] == "stopped" and calls == ["N0", "N1", "N2"]
    resumed = [c.node for c in app.stream({}, config=config) if c.event_type == "node_start"]
    assert resumed == ["N3", "N4", "N5"] and calls == names


def test_stop_status_for_idle_and_unknown_threads():
    calls: list[str] = []
    app, _ = slow_chain(calls, delay=0)
    app.invoke({"messages": []}, config={"thread_id": "idle"})
    assert app.stop({"thread_id": "idle"}) == {
        "thread_id": "idle", "ok": False, "running": False, "status": "not_running"
    }
    assert app.stop({"thread_id": "ghost"}) == {
        "thread_id": "ghost", "ok": False, "running": False, "status": "unknown_thread"
    }


def test_a_stop_request_does_not_outlive_its_run():
    calls: list[str] = []
    app, names = slow_chain(calls, delay=0)
    app.invoke({"messages": []}, config={"thread_id": "t"})
    app.stop({"thread_id": "t"})
    assert app.invoke({"messages": [Message.text_message("again")]}, config={"thread_id": "t"})["status"] is S.COMPLETED


def test_stop_needs_a_thread_id():
    calls: list[str] = []
    app, _ = slow_chain(calls, delay=0)
    with pytest.raises(ValueError, match="stop needs config"):
        app.stop({})


def test_node_error_saves_error_status_and_invoking_again_retries_that_node():
    attempts: list[int] = []

    def flaky(state):
        attempts.append(1)
        if len(attempts) == 1:
            raise TimeoutError("slow backend")
        return "ok"

    graph = StateGraph()
    graph.add_node("PREP", lambda s: "prepped")
    graph.add_node("FLAKY", flaky)
    app = graph.compile()
    config = {"thread_id": "t"}
    with pytest.raises(NodeError) as info:
        app.invoke({"messages": [Message.text_message("go")]}, config=config)
    error = info.value
    assert (error.node, error.thread_id) == ("FLAKY", "t")
    assert "node `FLAKY` raised TimeoutError: slow backend" in str(error)
    assert isinstance(error.__cause__, TimeoutError)
    saved = app.get_state(config)
    assert saved.status is S.ERROR and saved.state.execution_meta.error == "TimeoutError: slow backend"
    result = app.invoke({}, config=config)
    assert result["status"] is S.COMPLETED
    assert [m.content for m in result["messages"]] == ["go", "prepped", "ok"]


def test_stream_yields_an_error_chunk_then_raises():
    graph = StateGraph()
    graph.add_node("BAD", lambda s: 1 / 0)
    app = graph.compile()
    chunks = []
    with pytest.raises(NodeError, match="ZeroDivisionError"):
        for chunk in app.stream({"messages": []}, config={"thread_id": "t"}):
            chunks.append(chunk)
    assert [c.event_type.value for c in chunks] == ["node_start", "error"]


def test_a_second_run_of_a_running_thread_is_refused_and_the_first_goes_on():
    calls: list[str] = []
    started = threading.Event()
    app, names = slow_chain(calls, started, delay=0.1, length=3)
    config = {"thread_id": "t"}
    thread, box = start(app, lambda: app.invoke({"messages": []}, config=config))
    assert started.wait(5)
    with pytest.raises(ThreadBusyError, match="thread `t` is already running"):
        app.invoke({"messages": []}, config=config)
    with pytest.raises(ThreadBusyError):
        app.update_state(config, {"note": "x"})
    thread.join(10)
    assert box["result"]["status"] is S.COMPLETED and calls == names


def test_abandoning_a_stream_releases_the_thread():
    calls: list[str] = []
    app, names = slow_chain(calls, delay=0)
    config = {"thread_id": "t"}
    for chunk in app.stream({"messages": []}, config=config):
        if chunk.event_type == "node_end":
            break
    assert calls == ["N0"]
    assert app.invoke({}, config=config)["status"] is S.COMPLETED
    assert calls == names


def test_astop_from_the_same_event_loop_as_astream():
    calls: list[str] = []

    async def scenario():
        app, names = slow_chain(calls, delay=0.05)
        config = {"thread_id": "t"}
        seen = []
        async for chunk in app.astream({"messages": []}, config=config):
            seen.append(chunk.event_type.value)
            if chunk.event_type == "node_start" and chunk.node == "N1":
                assert (await app.astop(config))["status"] == "stop_requested"
        return seen

    seen = asyncio.run(scenario())
    assert seen[-1] == "stopped" and calls == ["N0", "N1"]


def test_a_store_with_its_own_stop_requests_is_asked_at_every_boundary():
    """The engine skips awaiting `aconsume_stop` only for the default in-process run control;
    a store that keeps stop requests elsewhere (a file, a database) is still asked each step."""
    from agentflow_nb import InMemoryCheckpointer

    class RemoteStops(InMemoryCheckpointer):
        asked = 0

        async def aconsume_stop(self, thread_id: str) -> bool:
            RemoteStops.asked += 1
            return RemoteStops.asked == 3  # a stop another process asked for, seen at the third boundary

    calls: list[str] = []
    graph = StateGraph()
    for name in ("A", "B", "C", "D"):
        graph.add_node(name, lambda s, name=name: calls.append(name))
    graph.add_edge(START, "A").add_edge("A", "B").add_edge("B", "C").add_edge("C", "D").add_edge("D", END)
    store = RemoteStops()
    assert store.stop_may_be_pending() and not InMemoryCheckpointer().stop_may_be_pending()
    app = graph.compile(checkpointer=store)
    result = app.invoke({"messages": []}, config={"thread_id": "t"})
    assert result["status"] is S.STOPPED and calls == ["A", "B"]
    assert app.invoke({}, config={"thread_id": "t"})["status"] is S.COMPLETED and calls == ["A", "B", "C", "D"]
