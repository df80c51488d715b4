"""The small public API that tools on top of the engine (the notebook debugger) use."""

from __future__ import annotations

import asyncio
import threading

import pytest

from agentflow_nb import END, START, GraphError, StateGraph, run_in_background
from tests.conftest import build_approval_agent


def test_run_in_background_returns_at_once_and_its_future_has_the_result():
    gate = threading.Event()

    async def waits():
        await asyncio.get_running_loop().run_in_executor(None, gate.wait, 30)
        return threading.current_thread().name

    future = run_in_background(waits())
    assert not future.done()  # the caller was not held up
    gate.set()
    assert future.result(timeout=30) == "agentflow-loop"


def test_check_breakpoints_validates_names_and_conditions():
    app = build_approval_agent()
    points = app.check_breakpoints(["FINALIZE"], {"ANALYZE_REQUEST": lambda s: True})
    assert list(points.before) == ["FINALIZE"] and list(points.after) == ["ANALYZE_REQUEST"]
    with pytest.raises(GraphError, match="did you mean `FINALIZE`"):
        app.check_breakpoints(["FINALISE"])
    with pytest.raises(TypeError, match="must be a function of the state"):
        app.check_breakpoints({"FINALIZE": 3})


def test_is_running_is_true_only_while_a_run_holds_the_thread():
    gate, entered = threading.Event(), threading.Event()

    def hold(state):
        entered.set()
        assert gate.wait(30)

    graph = StateGraph()
    graph.add_node("HOLD", hold)
    graph.add_edge(START, "HOLD").add_edge("HOLD", END)
    app = graph.compile()
    config = {"thread_id": "held"}
    assert not app.is_running(config)
    future = run_in_background(app.ainvoke({"messages": []}, config))
    assert entered.wait(30)
    assert app.is_running(config)
    gate.set()
    future.result(timeout=30)
    assert not app.is_running(config)
