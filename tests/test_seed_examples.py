"""Every example of the seed page (`taf` -> `agentflow_nb`), one test per section.

Helper functions the page leaves out are deterministic stand-ins; `input()` and `pdb` are
answered by monkeypatch. The example code itself is kept as the page writes it.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from agentflow_nb.checkpointer import InMemoryCheckpointer
from agentflow_nb.graph import END, START, StateGraph
from agentflow_nb.publisher import ConsolePublisher
from agentflow_nb.publisher.events import EventType
from agentflow_nb.state import AgentState, ExecutionStatus, Message
from tests.conftest import build_approval_agent


def analyze_data(state):
    return {"analysis": "ok"}


def execute_sensitive_tool(state):
    return "tool ran"


def cleanup_resources(state):
    return {"cleaned": True}


def test_compile_time_interrupts():
    # Build your graph (the page leaves the edges out: nodes run in the order added)
    graph = StateGraph()
    graph.add_node("ANALYZE", analyze_data)
    graph.add_node("EXECUTE_TOOL", execute_sensitive_tool)
    graph.add_node("CLEANUP", cleanup_resources)

    # Compile with interrupt points
    app = graph.compile(
        checkpointer=InMemoryCheckpointer(),  # Required for resuming
        interrupt_before=["EXECUTE_TOOL"],  # Pause before tool execution
        interrupt_after=["ANALYZE"],  # Pause after analysis for review
    )

    config = {"thread_id": "compile-time"}
    first = app.invoke({"messages": [Message.text_message("go")]}, config=config)
    assert first["status"] == ExecutionStatus.INTERRUPTED_AFTER
    assert first["current_node"] == "ANALYZE"
    second = app.invoke({}, config=config)
    assert second["status"] == ExecutionStatus.INTERRUPTED_BEFORE
    assert second["current_node"] == "EXECUTE_TOOL"
    assert "tool ran" not in [m.content for m in second["messages"]]
    third = app.invoke({}, config=config)
    assert third["status"] == ExecutionStatus.COMPLETED
    assert [m.content for m in third["messages"]] == ["go", "tool ran"]
    assert third["state"].cleaned is True


def slow_step(state):
    time.sleep(0.3)
    return Message.text_message(f"step {len(state.messages)}", role="assistant")


def build_slow_loop(checkpointer=None):
    graph = StateGraph()
    graph.add_node("WORK", slow_step)
    graph.add_edge(START, "WORK")
    graph.add_conditional_edges("WORK", lambda s: END if len(s.messages) > 40 else "WORK")
    return graph.compile(checkpointer=checkpointer or InMemoryCheckpointer())


def test_runtime_stop_requests(capsys):
    app = build_slow_loop()
    input_data = {"messages": [Message.text_message("start")]}

    # Start streaming execution
    def run_agent():
        for chunk in app.stream(input_data, config={"thread_id": "my-session"}, ):
            print(f"Agent output: {chunk}")

    # Run in background thread
    agent_thread = threading.Thread(target=run_agent)
    agent_thread.start()

    # Stop from main thread after delay
    time.sleep(2.0)
    status = app.stop({"thread_id": "my-session"})
    print(f"Stop status: {status}")

    agent_thread.join(timeout=10)
    assert not agent_thread.is_alive()
    assert status == {"thread_id": "my-session", "ok": True, "running": True, "status": "stop_requested"}
    out = capsys.readouterr().out
    assert "Agent output: [stopped]" in out
    saved = app.get_state({"thread_id": "my-session"})
    assert saved.status == ExecutionStatus.STOPPED
    assert 3 <= saved.step < 20


def test_execution_state_tracking(approval_app, capsys):
    result = approval_app.invoke(
        {"messages": [Message.text_message("Process")]}, config={"thread_id": "tracking"}
    )
    state = result["state"]

    # Check if execution is interrupted
    if state.execution_meta.is_interrupted():
        print(f"Paused at: {state.execution_meta.interrupted_node}")
        print(f"Reason: {state.execution_meta.interrupt_reason}")
        print(f"Status: {state.execution_meta.status}")

    out = capsys.readouterr().out
    assert "Paused at: EXECUTE_ACTION" in out
    assert "Reason: interrupt_before: EXECUTE_ACTION" in out
    assert "Status: interrupted_before" in out


def requires_human_approval(state):
    return not any(m.content.startswith("APPROVED") for m in state.messages)


async def approval_node(state: AgentState, config: dict) -> AgentState:
    # Check some condition
    if requires_human_approval(state):
        state.set_interrupt(
            node="approval_node",
            reason="Requires human approval for high-value transaction",
            status=ExecutionStatus.INTERRUPTED_BEFORE,
            data={"transaction_amount": 10000, "requires_approval": True},
        )
    return state


def test_manual_interrupt_control():
    runs: list[str] = []

    def pay(state):
        runs.append("pay")
        return "paid"

    graph = StateGraph()
    graph.add_node("approval_node", approval_node)
    graph.add_node("PAY", pay)
    app = graph.compile()
    config = {"thread_id": "manual"}

    result = app.invoke({"messages": [Message.text_message("send 10000")]}, config=config)
    assert result["interrupted"] is True
    assert result["status"] == ExecutionStatus.INTERRUPTED_BEFORE
    assert result["interrupt_reason"] == "Requires human approval for high-value transaction"
    assert result["state"].execution_meta.interrupt_data == {
        "transaction_amount": 10000,
        "requires_approval": True,
    }
    assert runs == []

    result = app.invoke({"messages": [Message.text_message("APPROVED")]}, config=config)
    assert result["status"] == ExecutionStatus.COMPLETED
    assert runs == ["pay"]


def test_basic_resume_pattern(approval_app, monkeypatch, capsys):
    monkeypatch.setattr("builtins.input", lambda prompt="": "y")
    app = approval_app

    # Initial execution (will pause at interrupt point)
    result = app.invoke(
        {"messages": [Message.text_message("Process the transaction")]},
        config={"thread_id": "session-123"},
    )

    # Check if interrupted
    if result.get("interrupted"):
        print(f"Execution paused: {result['interrupt_reason']}")

        # Human reviews and approves...
        human_decision = input("Approve transaction? (y/n): ")

        if human_decision.lower() == "y":
            # Resume with approval
            result = app.invoke(
                {"messages": [Message.text_message("Approved by human")]},
                config={"thread_id": "session-123"},  # Same thread_id
            )

    assert "Execution paused: interrupt_before: EXECUTE_ACTION" in capsys.readouterr().out
    assert result["status"] == ExecutionStatus.COMPLETED
    contents = [m.content for m in result["messages"]]
    assert contents.index("Approved by human") < contents.index("finalized")


def test_resume_with_modified_input(approval_app):
    approval_app.invoke({"messages": [Message.text_message("go")]}, config={"thread_id": "session-123"})

    # Resume with additional context
    resumed_result = approval_app.invoke(
        {
            "messages": [
                Message.text_message("Transaction approved"),
                Message.text_message("Use enhanced security protocols"),
            ]
        },
        config={"thread_id": "session-123"},
    )

    contents = [m.content for m in resumed_result["messages"]]
    assert contents == [
        "go",
        "analysis: go",
        "Transaction approved",
        "Use enhanced security protocols",
        "finalized",
    ]
    assert resumed_result["state"].execution_meta.interrupted_node is None


@pytest.mark.parametrize("answer", ["yes", "no"])
def test_approval_workflow(monkeypatch, answer):
    monkeypatch.setattr("builtins.input", lambda prompt="": answer)
    seen = {}

    async def approval_workflow():
        app = build_approval_agent()

        # Step 1: Initial request
        result = app.invoke(
            {"messages": [Message.text_message("Delete all production data")]},
            config={"thread_id": "dangerous-operation"},
        )

        # Step 2: Human review (execution paused at EXECUTE_ACTION)
        print(f"Request analysis: {result['messages'][-1].content}")
        approval = input("This is dangerous. Approve? (yes/no): ")

        # Step 3: Resume with decision
        if approval == "yes":
            final_result = app.invoke(
                {"messages": [Message.text_message("APPROVED: Proceed with deletion")]},
                config={"thread_id": "dangerous-operation"},
            )
        else:
            final_result = app.invoke(
                {"messages": [Message.text_message("DENIED: Operation cancelled")]},
                config={"thread_id": "dangerous-operation"},
            )
        seen["paused"], seen["final"] = result, final_result

    asyncio.run(approval_workflow())  # sync invoke inside a running event loop
    assert seen["paused"]["current_node"] == "EXECUTE_ACTION"
    assert seen["final"]["status"] == ExecutionStatus.COMPLETED
    assert seen["final"]["state"].executed is (answer == "yes")


def preprocess_data(state):
    return {"clean": [x.strip() for x in state.input_data]}


def run_ml_model(state):
    return {"prediction": len(state.clean)}


def postprocess_results(state):
    return f"prediction = {state.prediction}"


def test_debug_inspection_points(monkeypatch, capsys):
    raw_data = [" a ", "b "]
    breaks: list[str] = []
    monkeypatch.setattr("pdb.set_trace", lambda: breaks.append("pdb"))

    def build_debug_agent():
        graph = StateGraph()
        graph.add_node("PREPROCESS", preprocess_data)
        graph.add_node("MODEL_INFERENCE", run_ml_model)
        graph.add_node("POSTPROCESS", postprocess_results)

        return graph.compile(
            interrupt_after=["PREPROCESS", "MODEL_INFERENCE"]  # Inspect after each major step
        )

    def debug_session():
        app = build_debug_agent()
        config = {"thread_id": "debug-session"}

        # Run until first interrupt
        result = app.invoke({"input_data": raw_data}, config=config)

        while result.get("interrupted"):
            # Inspect current state
            print(f"Paused after: {result['current_node']}")
            print(f"Current state: {result['state']}")

            # Interactive debugging
            import pdb

            pdb.set_trace()  # Or any debugging tool

            # Continue execution
            result = app.invoke({}, config=config)  # Empty input to just resume
        return result

    result = debug_session()
    out = capsys.readouterr().out
    assert "Paused after: PREPROCESS" in out and "Paused after: MODEL_INFERENCE" in out
    assert breaks == ["pdb", "pdb"]
    assert result["messages"][-1].content == "prediction = 2"


def test_frontend_stop_control():
    from flask import Flask, jsonify, request

    sent: list[str] = []
    done = threading.Event()

    def send_to_frontend(chunk):
        sent.append(chunk.event_type)
        if chunk.event_type in ("stopped", "completed", "interrupted"):
            done.set()

    def build_streaming_agent():
        return build_slow_loop()

    # Backend API endpoint
    app_flask = Flask(__name__)
    agent_app = build_streaming_agent()

    @app_flask.route("/agent/start", methods=["POST"])
    def start_agent():
        thread_id = request.json["thread_id"]
        messages = request.json["messages"]

        # Start agent in background task
        def run_agent():
            for chunk in agent_app.stream(
                {"messages": [Message.text_message(msg) for msg in messages]},
                config={"thread_id": thread_id},
            ):
                # Stream to frontend via WebSocket/SSE
                send_to_frontend(chunk)

        threading.Thread(target=run_agent, daemon=True).start()
        return jsonify({"status": "started", "thread_id": thread_id})

    @app_flask.route("/agent/stop", methods=["POST"])
    def stop_agent():
        thread_id = request.json["thread_id"]

        # Request stop
        status = agent_app.stop({"thread_id": thread_id})
        return jsonify({"status": "stopped", "details": status})

    client = app_flask.test_client()
    started = client.post("/agent/start", json={"thread_id": "web-1", "messages": ["hi"]})
    assert started.get_json() == {"status": "started", "thread_id": "web-1"}
    deadline = time.monotonic() + 10
    while "node_end" not in sent and time.monotonic() < deadline:
        time.sleep(0.05)
    stopped = client.post("/agent/stop", json={"thread_id": "web-1"}).get_json()
    assert stopped["details"]["status"] == "stop_requested"
    assert done.wait(10)
    assert sent[-1] == "stopped"


class CaseState(AgentState):
    context: dict = {}


def calculate_confidence(context):
    return context.get("confidence", 1.0)


def assess_complexity(context):
    return context.get("complexity", 0.0)


async def smart_escalation_node(state: AgentState, config: dict) -> AgentState:
    """Automatically escalate complex cases to humans."""

    # Check complexity/confidence metrics
    confidence = calculate_confidence(state.context)
    complexity = assess_complexity(state.context)

    if confidence < 0.7 or complexity > 0.8:
        # Escalate to human
        state.set_interrupt(
            node="smart_escalation_node",
            reason=f"Low confidence ({confidence:.2f}) or high complexity ({complexity:.2f})",
            status=ExecutionStatus.INTERRUPTED_BEFORE,
            data={
                "confidence": confidence,
                "complexity": complexity,
                "escalation_reason": "Requires human expertise",
            },
        )

    return state


@pytest.mark.parametrize(
    ("context", "escalated"),
    [({"confidence": 0.9, "complexity": 0.1}, False), ({"confidence": 0.5, "complexity": 0.1}, True)],
)
def test_conditional_human_escalation(context, escalated):
    graph = StateGraph(CaseState)
    graph.add_node(smart_escalation_node)
    graph.add_node("ANSWER", lambda state: "answered")
    app = graph.compile()
    config = {"thread_id": "case"}
    result = app.invoke({"context": context}, config=config)
    assert result["interrupted"] is escalated
    if escalated:
        assert result["interrupt_reason"] == "Low confidence (0.50) or high complexity (0.10)"
        assert result["state"].execution_meta.interrupt_data["escalation_reason"] == "Requires human expertise"
        # a human settles it: with a confident context the node lets the case through
        result = app.invoke({"context": {"confidence": 0.95}}, config=config)
    assert result["status"] == ExecutionStatus.COMPLETED
    assert result["messages"][-1].content == "answered"


def test_monitoring_interrupt_events(capsys):
    class InterruptMonitor(ConsolePublisher):
        def publish(self, event):
            if event.event_type == EventType.INTERRUPTED:
                print(f"🛑 Execution paused at {event.node_name}")
                print(f"   Reason: {event.metadata.get('status', 'Unknown')}")
                print(f"   Interrupt type: {event.data.get('interrupted', 'Unknown')}")

            super().publish(event)

    graph = StateGraph()
    graph.add_node("PREPARE", lambda state: "prepared")
    graph.add_node("SENSITIVE_ACTION", lambda state: "done")

    # Use custom publisher
    app = graph.compile(publisher=InterruptMonitor(), interrupt_before=["SENSITIVE_ACTION"])

    app.invoke({"messages": [Message.text_message("go")]}, config={"thread_id": "monitored"})
    out = capsys.readouterr().out
    assert "🛑 Execution paused at SENSITIVE_ACTION" in out
    assert "   Reason: interrupted_before" in out
    assert "   Interrupt type: before" in out
    assert "node_end PREPARE" in out  # ConsolePublisher's own line per event


@pytest.mark.parametrize("answer", ["y", "n"])
def test_streaming_with_interrupts(monkeypatch, capsys, answer):
    monkeypatch.setattr("builtins.input", lambda prompt="": answer)

    async def streaming_with_interrupts():
        app = build_approval_agent()
        config = {"thread_id": "stream-interrupt-demo"}

        # Start streaming
        async for chunk in app.astream(
            {"messages": [Message.text_message("Process sensitive request")]}, config=config
        ):
            if chunk.event_type == "interrupted":
                print(f"⏸️  Execution paused: {chunk.content}")

                # Get human input
                approval = input("Approve? (y/n): ")

                if approval.lower() == "y":
                    # Resume streaming
                    async for resume_chunk in app.astream(
                        {"messages": [Message.text_message("Human approved")]}, config=config
                    ):
                        print(f"📤 {resume_chunk.content}")
                else:
                    # Cancel
                    await app.astop(config)
                    print("❌ Operation cancelled")
                    break
            else:
                print(f"📤 {chunk.content}")
        return await app.aget_state(config)

    saved = asyncio.run(streaming_with_interrupts())
    out = capsys.readouterr().out
    assert "⏸️  Execution paused: paused before `EXECUTE_ACTION`" in out
    assert "📤 analysis: Process sensitive request" in out
    if answer == "y":
        assert "📤 finalized" in out and "📤 completed" in out
        assert saved.status == ExecutionStatus.COMPLETED
    else:
        assert "❌ Operation cancelled" in out
        assert saved.status == ExecutionStatus.INTERRUPTED_BEFORE


def test_error_handling():
    stops: list[dict] = []

    def broken(state):
        raise ConnectionError("tool backend down")

    graph = StateGraph()
    graph.add_node("CALL_TOOL", broken)
    app = graph.compile()
    config = {"thread_id": "fragile"}
    input_data = {"messages": [Message.text_message("go")]}

    def handle_interrupt(result):
        return result

    async def robust_interrupt_handling():
        try:
            result = app.invoke(input_data, config=config)

            if result.get("interrupted"):
                # Handle interrupt gracefully
                return handle_interrupt(result)

        except Exception as e:
            # Clean up any interrupt state on errors
            if hasattr(e, "thread_id"):
                stops.append(await app.astop({"thread_id": e.thread_id}))
            raise

    with pytest.raises(Exception, match="tool backend down") as info:
        asyncio.run(robust_interrupt_handling())
    assert info.value.thread_id == "fragile" and info.value.node == "CALL_TOOL"
    assert isinstance(info.value.__cause__, ConnectionError)
    assert stops == [{"thread_id": "fragile", "ok": False, "running": False, "status": "not_running"}]
    assert app.get_state(config).status == ExecutionStatus.ERROR


def test_testing_interrupts():
    def test_interrupt_approval_workflow():
        app = build_approval_agent()
        config = {"thread_id": "test-interrupt"}

        # First execution should interrupt
        result = app.invoke({"messages": [Message.text_message("Execute sensitive action")]}, config=config)

        assert result["interrupted"] == True  # noqa: E712 - as the page writes it
        assert "EXECUTE_ACTION" in result["interrupt_reason"]

        # Resume with approval
        final_result = app.invoke({"messages": [Message.text_message("APPROVED")]}, config=config)

        assert final_result["interrupted"] == False  # noqa: E712
        assert len(final_result["messages"]) > 0

    test_interrupt_approval_workflow()
