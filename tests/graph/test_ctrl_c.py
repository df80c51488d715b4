"""Ctrl-C during a sync `invoke` or `stream`: the first stops at the next node boundary with the
node's work saved, a second interrupts at once; either way the thread goes on when invoked again.

The presses are sent once the first node is known to be running (it waits for the test to let
it finish), never after a fixed delay, so a loaded machine changes nothing.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from agentflow_nb import END, START, ExecutionStatus, StateGraph

S = ExecutionStatus
DEADLINE = 120  # seconds: only ever waited out when something is broken
pytestmark = pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="sends SIGINT with pthread_kill (POSIX)")


@pytest.fixture(autouse=True)
def interactive_sigint():
    """Python's own Ctrl-C handler, as in a terminal or a notebook: a run started in the background
    by a shell script inherits SIGINT ignored, and then no run takes Ctrl-C over."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class Gate:
    """N0 says when it runs (`entered`) and then waits until the test lets it go (`release`)."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def hold(self) -> None:
        self.entered.set()
        deadline = time.monotonic() + DEADLINE
        # short waits: a signal that lands just as a blocking wait begins is only handled when the
        # wait ends (CPython), so the wait must end often for the press to be seen at once
        while not self.release.wait(0.01):
            assert time.monotonic() < deadline


def chain(calls, gate: Gate, *, async_tail=False):
    """N0 -> N1 -> N2, sync nodes that log their name; N0 waits at `gate` first. `async_tail` makes
    N2 async, so the graph is not plain and runs on the background loop."""
    graph = StateGraph()
    for i in range(3):
        name = f"N{i}"
        if async_tail and i == 2:
            async def node(state, name=name):
                calls.append(name)
        else:
            def node(state, name=name):
                if name == "N0":
                    gate.hold()
                calls.append(name)
        graph.add_node(name, node)
    graph.add_edge(START, "N0").add_edge("N0", "N1").add_edge("N1", "N2").add_edge("N2", END)
    return graph.compile()


def press_ctrl_c(gate: Gate, presses: int = 1, *, release: bool = True) -> threading.Thread:
    """Once N0 runs, send SIGINT to this process `presses` times, each once the last was handled
    (signals do not queue), then (with `release`) let N0 end."""

    def press() -> None:
        assert gate.entered.wait(DEADLINE)
        handler = signal.getsignal(signal.SIGINT)  # the run's Ctrl-C handler, armed before N0 ran
        ctrl_c = handler.__self__
        for _ in range(presses):  # to the main thread, as a terminal's Ctrl-C reaches it
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            deadline = time.monotonic() + DEADLINE
            while not ctrl_c.pressed and time.monotonic() < deadline:
                time.sleep(0.001)  # polling for the handler to have run, not a fixed wait
        if release:
            gate.release.set()

    presser = threading.Thread(target=press, daemon=True)
    presser.start()
    return presser


@pytest.mark.parametrize("async_tail", [False, True], ids=["in the calling thread", "on the background loop"])
def test_one_ctrl_c_stops_at_the_next_boundary_and_keeps_the_node(async_tail):
    calls: list[str] = []
    gate = Gate()
    app = chain(calls, gate, async_tail=async_tail)
    assert app.plain is not async_tail
    config = {"thread_id": "t"}
    presser = press_ctrl_c(gate)
    with pytest.raises(KeyboardInterrupt, match="stopped at a node boundary"):
        app.invoke({"messages": []}, config=config)
    presser.join(DEADLINE)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    saved = app.get_state(config)
    assert calls == ["N0"] and saved.status is S.STOPPED and saved.node == "N0"
    assert app.invoke({}, config=config)["status"] is S.COMPLETED
    assert calls == ["N0", "N1", "N2"]


def test_a_second_ctrl_c_interrupts_the_node_in_flight():
    calls: list[str] = []
    gate = Gate()
    app = chain(calls, gate)
    config = {"thread_id": "t"}
    presser = press_ctrl_c(gate, presses=2, release=False)
    try:
        with pytest.raises(KeyboardInterrupt):
            app.invoke({"messages": []}, config=config)
    finally:
        presser.join(DEADLINE)
        gate.release.set()  # later runs of N0 pass straight through
    assert calls == []  # N0 never finished: it was still waiting when the second press came
    assert app.invoke({}, config=config)["status"] is S.COMPLETED  # the thread is not left busy
    assert calls == ["N0", "N1", "N2"]


def test_ctrl_c_during_a_stream_ends_it_at_the_boundary():
    calls: list[str] = []
    gate = Gate()
    app = chain(calls, gate)
    config = {"thread_id": "t"}
    seen = []
    presser = press_ctrl_c(gate)
    with pytest.raises(KeyboardInterrupt):
        for chunk in app.stream({"messages": []}, config=config):
            seen.append((chunk.event_type, chunk.node))
    presser.join(DEADLINE)
    assert seen == [("node_start", "N0")]  # nothing is handed out after the press
    assert calls == ["N0"] and app.get_state(config).status is S.STOPPED
    assert app.invoke({}, config=config)["status"] is S.COMPLETED
