"""Ctrl-C during a sync `invoke` or `stream`: the first stops at the next node boundary with the
node's work saved, a second interrupts at once; either way the thread goes on when invoked again."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from agentflow_nb import END, START, ExecutionStatus, StateGraph

S = ExecutionStatus


def chain(calls, delay, *, async_tail=False):
    """N0 -> N1 -> N2, sync nodes that sleep `delay` then log; `async_tail` makes N2 async, so the
    graph is not plain and runs on the background loop."""
    graph = StateGraph()
    for i in range(3):
        name = f"N{i}"
        if async_tail and i == 2:
            async def node(state, name=name):
                calls.append(name)
        else:
            def node(state, name=name):
                time.sleep(delay)
                calls.append(name)
        graph.add_node(name, node)
    graph.add_edge(START, "N0").add_edge("N0", "N1").add_edge("N1", "N2").add_edge("N2", END)
    return graph.compile()


def press_ctrl_c(*after):
    """Send SIGINT to this process `after` seconds from now (several times if given several)."""
    timers = [threading.Timer(t, os.kill, args=(os.getpid(), signal.SIGINT)) for t in after]
    for timer in timers:
        timer.start()
    return timers


@pytest.mark.parametrize("async_tail", [False, True], ids=["in the calling thread", "on the background loop"])
def test_one_ctrl_c_stops_at_the_next_boundary_and_keeps_the_node(async_tail):
    calls: list[str] = []
    app = chain(calls, 0.4, async_tail=async_tail)
    assert app.plain is not async_tail
    config = {"thread_id": "t"}
    press_ctrl_c(0.15)  # while N0 sleeps
    with pytest.raises(KeyboardInterrupt, match="stopped at a node boundary"):
        app.invoke({"messages": []}, config=config)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    saved = app.get_state(config)
    assert calls == ["N0"] and saved.status is S.STOPPED and saved.node == "N0"
    assert app.invoke({}, config=config)["status"] is S.COMPLETED
    assert calls == ["N0", "N1", "N2"]


def test_a_second_ctrl_c_interrupts_the_node_in_flight():
    calls: list[str] = []
    app = chain(calls, 1.0)
    config = {"thread_id": "t"}
    press_ctrl_c(0.1, 0.2)
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        app.invoke({"messages": []}, config=config)
    assert time.perf_counter() - started < 0.9 and calls == []  # N0 never finished
    assert app.invoke({}, config=config)["status"] is S.COMPLETED  # the thread is not left busy
    assert calls == ["N0", "N1", "N2"]


def test_ctrl_c_during_a_stream_ends_it_at_the_boundary():
    calls: list[str] = []
    app = chain(calls, 0.4)
    config = {"thread_id": "t"}
    seen = []
    press_ctrl_c(0.15)
    with pytest.raises(KeyboardInterrupt):
        for chunk in app.stream({"messages": []}, config=config):
            seen.append((chunk.event_type, chunk.node))
    assert seen == [("node_start", "N0")]  # nothing is handed out after the press
    assert calls == ["N0"] and app.get_state(config).status is S.STOPPED
    assert app.invoke({}, config=config)["status"] is S.COMPLETED
