"""Jupyter's "Interrupt the kernel" during a cell's `invoke`, in a real kernel: the run stops at the
next node boundary, saved, and the cell ends with a KeyboardInterrupt that says how to go on."""

from __future__ import annotations

import pytest
from jupyter_client.manager import start_new_kernel

SETUP = """
import signal, threading
from agentflow_nb import END, START, StateGraph
calls = []

def ctrl_c_taken():
    # the run's SIGINT handler (a bound `CtrlC.on_sigint`) has seen the interrupt
    handler = signal.getsignal(signal.SIGINT)
    return getattr(getattr(handler, "__self__", None), "pressed", False)

def until_interrupted():
    # N0 says it is working, then works until the kernel has taken the test's interrupt: the
    # run must then stop at the boundary after N0, however late the signal was handled
    print("N0 working", flush=True)
    tick = threading.Event()
    for _ in range(2400):
        if ctrl_c_taken():
            return
        tick.wait(0.05)

graph = StateGraph()
for name in ["N0", "N1", "N2"]:
    def node(state, name=name):
        if name == "N0" and not calls:
            until_interrupted()
        calls.append(name)
    graph.add_node(name, node)
graph.add_edge(START, "N0").add_edge("N0", "N1").add_edge("N1", "N2").add_edge("N2", END)
app = graph.compile()
"""


def run_cell(client, code):
    """Execute `code`; its errors (name, value) and printed text."""
    errors, text = [], []

    def hook(msg):
        if msg["msg_type"] == "error":
            errors.append((msg["content"]["ename"], msg["content"]["evalue"]))
        elif msg["msg_type"] == "stream":
            text.append(msg["content"]["text"])

    client.execute_interactive(code, timeout=60, output_hook=hook)
    return errors, "".join(text)


@pytest.mark.timeout(180)
def test_interrupting_the_kernel_stops_the_graph_at_a_node_boundary():
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        assert run_cell(client, SETUP) == ([], "")
        msg_id = client.execute('app.invoke({"messages": []}, config={"thread_id": "k"})')
        errors, interrupted = [], False
        while True:
            msg = client.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream" and "N0 working" in msg["content"]["text"] and not interrupted:
                manager.interrupt_kernel()  # while N0 works: the run is to stop after it
                interrupted = True
            if msg["msg_type"] == "error":
                errors.append((msg["content"]["ename"], msg["content"]["evalue"]))
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        assert interrupted and len(errors) == 1 and errors[0][0] == "KeyboardInterrupt"
        assert "stopped at a node boundary" in errors[0][1]
        assert run_cell(client, 'print(calls, app.get_state({"thread_id": "k"}).status.value)') == (
            [], "['N0'] stopped\n")
        assert run_cell(client, 'print(app.invoke({}, config={"thread_id": "k"})["status"].value, calls)') == (
            [], "completed ['N0', 'N1', 'N2']\n")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
