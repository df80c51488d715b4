"""Events reach publishers in order, fresh each time, sync or async, and a bad one is harmless."""

from __future__ import annotations

import io
import logging

from agentflow_nb import (
    BasePublisher,
    ConsolePublisher,
    EventType,
    ExecutionStatus,
    Message,
    StateGraph,
)
from tests.conftest import build_approval_agent


class Recorder(BasePublisher):
    def __init__(self):
        self.events = []

    def publish(self, event):
        self.events.append(event)


class AsyncRecorder(BasePublisher):
    def __init__(self):
        self.events = []

    async def publish(self, event):
        self.events.append(event)


def kinds(events):
    return [(e.event_type.value, e.node_name) for e in events]


def test_events_arrive_in_order_for_pause_resume_and_completion():
    publisher = Recorder()
    app = build_approval_agent(publisher=publisher)
    config = {"thread_id": "t"}
    app.invoke({"messages": [Message.text_message("go")]}, config=config)
    app.invoke({"messages": [Message.text_message("APPROVED")]}, config=config)
    assert kinds(publisher.events) == [
        ("start", None),
        ("node_start", "ANALYZE_REQUEST"),
        ("node_end", "ANALYZE_REQUEST"),
        ("interrupted", "EXECUTE_ACTION"),
        ("resumed", None),
        ("node_start", "EXECUTE_ACTION"),
        ("node_end", "EXECUTE_ACTION"),
        ("node_start", "FINALIZE"),
        ("node_end", "FINALIZE"),
        ("completed", "FINALIZE"),
    ]
    interrupted = publisher.events[3]
    assert interrupted.data == {
        "interrupted": "before", "reason": "interrupt_before: EXECUTE_ACTION", "where": "before"
    }
    assert interrupted.metadata["status"] == "interrupted_before"
    assert interrupted.thread_id == "t" and interrupted.run_id
    assert len({id(e) for e in publisher.events}) == len(publisher.events)  # fresh each
    steps = [e.step for e in publisher.events]
    assert steps == sorted(steps)


def test_async_publish_is_awaited_and_state_graph_publisher_is_used():
    publisher = AsyncRecorder()
    graph = StateGraph(publisher=publisher)
    graph.add_node("A", lambda s: None)
    graph.compile().invoke({"messages": []}, config={"thread_id": "t"})
    assert kinds(publisher.events)[-1] == ("completed", "A")


def test_a_raising_publisher_is_logged_and_the_run_goes_on(caplog):
    class Broken(BasePublisher):
        def publish(self, event):
            raise RuntimeError("monitoring is down")

    good = Recorder()
    app = build_approval_agent(publisher=[Broken(), good], interrupt_before=[])
    with caplog.at_level(logging.ERROR, logger="agentflow_nb"):
        result = app.invoke({"messages": [Message.text_message("go")]}, config={"thread_id": "t"})
    assert result["status"] is ExecutionStatus.COMPLETED
    assert "publisher" in caplog.text and "monitoring is down" in caplog.text
    assert kinds(good.events)[-1] == ("completed", "FINALIZE")


def test_each_publisher_gets_its_own_copy():
    class Mutating(BasePublisher):
        def publish(self, event):
            event.data["mutated"] = True

    good = Recorder()
    app = build_approval_agent(publisher=[Mutating(), good])
    app.invoke({"messages": [Message.text_message("go")]}, config={"thread_id": "t"})
    assert all("mutated" not in e.data for e in good.events)


def test_stop_publishes_an_interrupt_of_kind_stop_then_stopped():
    publisher = Recorder()
    graph = StateGraph()
    graph.add_node("A", lambda s: None)
    graph.add_node("B", lambda s: None)
    app = graph.compile(publisher=publisher)
    config = {"thread_id": "t"}
    for chunk in app.stream({"messages": []}, config=config):
        if chunk.event_type == "node_start":
            app.stop(config)
    tail = publisher.events[-2:]
    assert [e.event_type for e in tail] == [EventType.INTERRUPTED, EventType.STOPPED]
    assert tail[0].data["interrupted"] == "stop" and tail[0].data["reason"] == "stop requested"


def test_update_state_publishes_state_updated():
    publisher = Recorder()
    app = build_approval_agent(publisher=publisher)
    config = {"thread_id": "t"}
    app.invoke({"messages": [Message.text_message("go")]}, config=config)
    app.update_state({**config, "new_fields": ["reviewer"]}, {"reviewer": "ana"})
    assert publisher.events[-1].event_type is EventType.STATE_UPDATED
    assert "reviewer" in publisher.events[-1].content


def test_console_publisher_prints_one_line_per_event():
    out = io.StringIO()
    app = build_approval_agent(publisher=ConsolePublisher(out))
    app.invoke({"messages": [Message.text_message("go")]}, config={"thread_id": "t"})
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    assert lines[-1].startswith("[t] step 1 interrupted EXECUTE_ACTION [interrupted_before]: paused before")
