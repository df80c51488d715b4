"""Running graphs with subgraphs: state in and out, pauses at any depth, resume, stop, errors."""

from __future__ import annotations

import threading

import pytest

from agentflow_nb import (
    END,
    START,
    AgentState,
    Command,
    ExecutionStatus,
    Message,
    NodeError,
    StateGraph,
)
from tests.graph.nested_graphs import Doc, go, logged, resume, supervisor, writer_graph

S = ExecutionStatus


def test_state_passes_in_by_name_and_out_when_the_subgraph_ends(saver):
    calls = []
    app = supervisor(calls, writer_graph(calls), checkpointer=saver)
    result = go(app)
    assert result["status"] is S.COMPLETED and calls == ["PLAN", "DRAFT", "REVIEW", "PUBLISH"]
    assert result["state"].draft == "about owls"  # written in the subgraph, passed out
    assert [m.content for m in result["messages"]] == [
        "write about owls", "review: approved=False", "published 'about owls' approved=False"]
    assert result["current_node"] == "PUBLISH" and app.get_state({"thread_id": "t"}).frames == ()


def test_only_fields_the_subgraph_changed_pass_out():
    calls = []
    writer = writer_graph(calls, interrupt_before=["REVIEW"])
    app = supervisor(calls, writer)
    go(app)
    app.update_state({"thread_id": "t"}, {"notes": ["from the editor"]})  # the parent, paused inside
    done = resume(app)
    assert done["state"].notes == ["from the editor"]  # the subgraph never wrote `notes`
    assert done["state"].draft == "about owls"


def test_explicit_mappings_pass_exactly_the_fields_named():
    class Brief(AgentState):
        subject: str = ""
        text: str = ""
        scratch: str = ""

    inner = StateGraph(Brief)
    inner.add_node("WRITE", lambda s: {"text": f"on {s.subject}", "scratch": "kept inside"})
    sub = inner.compile()
    graph = StateGraph(Doc)
    graph.add_node("PLAN", lambda s: {"topic": "bats"})
    graph.add_node("SUB", sub, input={"subject": "topic"}, output={"text": "draft"})
    app = graph.compile()
    result = go(app)
    state = result["state"]
    assert state.draft == "on bats" and "scratch" not in state.model_dump() and "text" not in state.model_dump()


def test_extra_fields_flow_both_ways_between_plain_states():
    inner = StateGraph()
    inner.add_node("ECHO", lambda s: {"answer": s.question.upper()})
    graph = StateGraph()
    graph.add_node("ASK", inner.compile())
    result = graph.compile().invoke({"question": "why"}, config={"thread_id": "t"})
    assert result["state"].answer == "WHY"


def test_a_subgraph_with_its_own_conversation_starts_empty_and_drops_it():
    seen = []
    inner = StateGraph(Doc)
    inner.add_node("THINK", lambda s: (seen.append(len(s.messages)), [Message.text_message("private", role="assistant")])[1])
    inner.add_node("SUMMARIZE", lambda s: {"draft": f"{len(s.messages)} private message(s)"})
    graph = StateGraph(Doc)
    graph.add_node("SUB", inner.compile(interrupt_after=["THINK"]), share_messages=False)
    app = graph.compile()
    paused = go(app)
    assert seen == [0] and [m.content for m in paused["messages"]] == ["write about owls"]
    cp = app.get_state({"thread_id": "t"})
    assert [m.content for m in cp.state_at("SUB").messages] == ["private"]
    done = resume(app)
    assert done["state"].draft == "1 private message(s)"
    assert [m.content for m in done["messages"]] == ["write about owls"]


def test_the_subgraphs_own_interrupt_before_pauses_the_whole_run(saver):
    calls = []
    app = supervisor(calls, writer_graph(calls, interrupt_before=["REVIEW"]), checkpointer=saver)
    paused = go(app)
    assert paused["interrupted"] and paused["status"] is S.INTERRUPTED_BEFORE
    assert paused["current_node"] == "WRITER/REVIEW" and paused["current_path"] == ("WRITER", "REVIEW")
    assert paused["interrupt_reason"] == "interrupt_before: WRITER/REVIEW"
    assert calls == ["PLAN", "DRAFT"]
    done = resume(app)
    assert done["status"] is S.COMPLETED and calls == ["PLAN", "DRAFT", "REVIEW", "PUBLISH"]


def test_interrupt_after_the_last_node_of_a_subgraph_resumes_in_the_parent(saver):
    calls = []
    app = supervisor(calls, writer_graph(calls, interrupt_after=["REVIEW"]), checkpointer=saver)
    paused = go(app)
    assert (paused["status"], paused["current_node"]) == (S.INTERRUPTED_AFTER, "WRITER/REVIEW")
    assert resume(app)["status"] is S.COMPLETED
    assert calls == ["PLAN", "DRAFT", "REVIEW", "PUBLISH"]


def test_breakpoints_on_the_subgraph_node_itself_pause_before_entering_and_after_leaving():
    calls = []
    app = supervisor(calls, writer_graph(calls), interrupt_before=["WRITER"], interrupt_after=["WRITER"])
    first = go(app)
    assert (first["status"], first["current_node"], calls) == (S.INTERRUPTED_BEFORE, "WRITER", ["PLAN"])
    assert app.get_state({"thread_id": "t"}).frames == ()
    second = resume(app)
    assert (second["status"], second["current_node"]) == (S.INTERRUPTED_AFTER, "WRITER")
    assert second["state"].draft == "about owls" and calls == ["PLAN", "DRAFT", "REVIEW"]
    assert resume(app)["status"] is S.COMPLETED and calls[-1] == "PUBLISH"


def test_per_run_breakpoints_by_path_with_a_condition_on_the_subgraphs_state():
    calls = []
    app = supervisor(calls, writer_graph(calls))
    config = {"interrupt_after": {"WRITER/DRAFT": lambda state: state.draft.startswith("about")}}
    paused = go(app, **config)
    assert paused["current_node"] == "WRITER/DRAFT" and paused["interrupt_reason"] == "interrupt_after: WRITER/DRAFT"
    assert resume(app, **config)["status"] is S.COMPLETED
    assert calls == ["PLAN", "DRAFT", "REVIEW", "PUBLISH"]


def test_set_interrupt_in_a_subgraph_node_pauses_the_run_and_reruns_that_node(saver):
    calls = []

    def review(state):
        calls.append("REVIEW")
        if not state.approved:
            state.set_interrupt("REVIEW", "needs approval", data={"draft": state.draft})
            return None
        return "approved"

    inner = StateGraph(Doc)
    inner.add_node("DRAFT", logged(calls, "DRAFT", lambda s: {"draft": "text"}))
    inner.add_node("REVIEW", review)
    app = supervisor(calls, inner.compile(), checkpointer=saver)
    paused = go(app)
    assert paused["interrupt_reason"] == "needs approval" and paused["current_node"] == "WRITER/REVIEW"
    assert paused["state"].execution_meta.interrupted_node == "WRITER/REVIEW"
    assert paused["state"].execution_meta.interrupt_data == {"draft": "text"}
    done = resume(app, values={"approved": True})  # input on resume goes to the subgraph's state
    assert done["status"] is S.COMPLETED
    assert calls == ["PLAN", "DRAFT", "REVIEW", "REVIEW", "PUBLISH"]
    assert done["state"].approved  # changed inside (by the input), so passed out


def test_a_node_error_inside_names_the_full_path_and_a_retry_goes_on_inside(saver):
    calls, broken = [], [True]

    def draft(state):
        calls.append("DRAFT")
        if broken[0]:
            raise RuntimeError("model timed out")
        return {"draft": "fine"}

    inner = StateGraph(Doc)
    inner.add_node("DRAFT", draft)
    inner.add_node("REVIEW", logged(calls, "REVIEW"))
    app = supervisor(calls, inner.compile(), checkpointer=saver)
    with pytest.raises(NodeError, match=r"node `WRITER/DRAFT` raised RuntimeError: model timed out") as info:
        go(app)
    assert info.value.node == "WRITER/DRAFT" and info.value.path == ("WRITER", "DRAFT")
    saved = app.get_state({"thread_id": "t"})
    assert saved.status is S.ERROR and saved.node == "WRITER/DRAFT" and [f.path for f in saved.frames] == ["WRITER"]
    broken[0] = False
    done = resume(app)
    assert done["status"] is S.COMPLETED and done["state"].draft == "fine"
    assert calls == ["PLAN", "DRAFT", "DRAFT", "REVIEW", "PUBLISH"]


def test_a_router_inside_a_subgraph_cannot_route_to_a_parent_node():
    inner = StateGraph(Doc)
    inner.add_node("A", lambda s: None)
    inner.add_node("B", lambda s: None)
    inner.add_edge(START, "A").add_conditional_edges("A", lambda s: "PUBLISH")
    inner.add_edge("B", END)
    app = supervisor([], inner.compile())
    with pytest.raises(NodeError, match=r"router `<lambda>` of `WRITER/A` returned `'PUBLISH'`; expected one of `A`, `B`"):
        go(app)


def test_command_goto_and_loops_inside_a_subgraph():
    calls = []
    inner = StateGraph(Doc)
    inner.add_node("WORK", lambda s: (calls.append("WORK"), {"notes": [*s.notes, "x"]})[1])
    inner.add_node("CHECK", lambda s: Command(goto="WORK" if len(s.notes) < 3 else "DONE"), ends=["WORK", "DONE"])
    inner.add_node("DONE", lambda s: None)
    inner.add_edge(START, "WORK").add_edge("WORK", "CHECK").add_edge("DONE", END)
    app = supervisor([], inner.compile(interrupt_before=["WORK"]))
    result, pauses = go(app), 0
    while result["interrupted"]:
        assert result["current_node"] == "WRITER/WORK"
        pauses += 1
        result = resume(app)
    assert pauses == 3 and calls == ["WORK"] * 3 and result["state"].notes == ["x", "x", "x"]


def test_a_subgraph_visited_twice_starts_fresh_each_visit_and_breaks_each_visit():
    calls = []
    inner = StateGraph(Doc)
    inner.add_node("COUNT", lambda s: (calls.append(list(s.notes)), {"notes": [*s.notes, "n"]})[1])
    graph = StateGraph(Doc)
    graph.add_node("SUB", inner.compile(), output={})
    graph.add_node("TALLY", lambda s: {"notes": [*s.notes, "t"]})
    graph.add_edge(START, "SUB").add_edge("SUB", "TALLY")
    graph.add_conditional_edges("TALLY", lambda s: "SUB" if len(s.notes) < 2 else END)
    app = graph.compile(interrupt_before=["SUB/COUNT"])
    result, pauses = go(app), 0
    while result["interrupted"]:
        pauses += 1
        result = resume(app)
    assert pauses == 2 and calls == [[], ["t"]] and result["state"].notes == ["t", "t"]


def test_three_levels_deep_pause_and_resume(saver):
    calls = []
    leaf = StateGraph(Doc)
    leaf.add_node("LEAF", logged(calls, "LEAF", lambda s: {"notes": [*s.notes, "leaf"]}))
    middle = StateGraph(Doc)
    middle.add_node("INNER", leaf.compile(interrupt_before=["LEAF"]))
    middle.add_node("AFTER", logged(calls, "AFTER", lambda s: {"notes": [*s.notes, "after"]}))
    top = StateGraph(Doc)
    top.add_node("MIDDLE", middle.compile())
    top.add_node("END_NODE", logged(calls, "END_NODE"))
    app = top.compile(checkpointer=saver)
    paused = go(app)
    assert paused["current_path"] == ("MIDDLE", "INNER", "LEAF") and calls == []
    assert [f.path for f in app.get_state({"thread_id": "t"}).frames] == ["MIDDLE", "MIDDLE/INNER"]
    done = resume(app)
    assert calls == ["LEAF", "AFTER", "END_NODE"] and done["state"].notes == ["leaf", "after"]


def test_stop_inside_a_subgraph_stops_at_the_next_node_boundary_and_resumes_there(saver):
    calls = []
    started, release = threading.Event(), threading.Event()

    def slow(state):
        calls.append("SLOW")
        started.set()
        assert release.wait(30)
        return {"draft": "slow done"}

    inner = StateGraph(Doc)
    inner.add_node("SLOW", slow)
    inner.add_node("NEXT", logged(calls, "NEXT"))
    app = supervisor(calls, inner.compile(), checkpointer=saver)
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.setdefault("result", go(app)))
    runner.start()
    try:
        assert started.wait(30)
        assert app.stop({"thread_id": "t"})["status"] == "stop_requested"
    finally:
        release.set()
        runner.join(30)
    stopped = outcome["result"]
    assert stopped["status"] is S.STOPPED and stopped["current_node"] == "WRITER/SLOW"
    assert stopped["state"].execution_meta.next_node == "WRITER/NEXT" and calls == ["PLAN", "SLOW"]
    done = resume(app)
    assert done["status"] is S.COMPLETED and calls == ["PLAN", "SLOW", "NEXT", "PUBLISH"]
    assert done["state"].draft == "slow done"


def test_stream_chunks_and_events_carry_the_path():
    calls = []
    events = []

    class Collect:
        def publish(self, event):
            events.append((event.event_type.value, event.node_name, event.path))

    app = supervisor(calls, writer_graph(calls, interrupt_before=["REVIEW"]), publisher=Collect())
    chunks = list(app.stream({"messages": [Message.text_message("go")]}, config={"thread_id": "t"}))
    assert [(c.event_type.value, c.node) for c in chunks] == [
        ("node_start", "PLAN"), ("node_end", "PLAN"),
        ("node_start", "WRITER"), ("node_start", "WRITER/DRAFT"), ("node_end", "WRITER/DRAFT"),
        ("interrupted", "WRITER/REVIEW"),
    ]
    assert chunks[-1].path == ("WRITER", "REVIEW") and "WRITER/REVIEW" in chunks[-1].content
    chunks = list(app.stream({}, config={"thread_id": "t"}))
    assert [(c.event_type.value, c.node) for c in chunks] == [
        ("node_start", "WRITER/REVIEW"), ("message", "WRITER/REVIEW"), ("node_end", "WRITER/REVIEW"),
        ("node_end", "WRITER"), ("node_start", "PUBLISH"), ("message", "PUBLISH"), ("node_end", "PUBLISH"),
        ("completed", "PUBLISH"),
    ]
    assert ("interrupted", "WRITER/REVIEW", ("WRITER", "REVIEW")) in events
    assert ("node_end", "WRITER", ("WRITER",)) in events


def test_a_subgraphs_own_publisher_hears_the_events_inside_it():
    inside, everything = [], []

    class Log:
        def __init__(self, into):
            self.into = into

        def publish(self, event):
            self.into.append((event.event_type.value, event.node_name))

    inner = StateGraph(Doc)
    inner.add_node("DRAFT", lambda s: None)
    graph = StateGraph(Doc)
    graph.add_node("PLAN", lambda s: None)
    graph.add_node("WRITER", inner.compile(publisher=Log(inside)))
    app = graph.compile(publisher=Log(everything))
    go(app)
    assert inside == [("node_start", "WRITER/DRAFT"), ("node_end", "WRITER/DRAFT")]
    assert ("node_start", "PLAN") in everything and ("node_end", "WRITER/DRAFT") in everything


def test_async_nodes_inside_a_subgraph():
    async def draft(state):
        return {"draft": "async"}

    inner = StateGraph(Doc)
    inner.add_node("DRAFT", draft)
    app = supervisor([], inner.compile())
    assert not app.plain
    assert go(app)["state"].draft == "async"


def test_a_subgraph_node_counts_in_no_step_but_its_nodes_do():
    inner = StateGraph(Doc)
    for name in "ABC":
        inner.add_node(name, lambda s: None)
    graph = StateGraph(Doc)
    graph.add_node("SUB", inner.compile())
    app = graph.compile()
    result = go(app, recursion_limit=3)
    assert result["status"] is S.COMPLETED and result["step"] == 4  # A, B, C, then SUB itself
    with pytest.raises(Exception, match="recursion_limit 2"):
        go(app, thread="u", recursion_limit=2)


def test_nodes_and_routers_inside_see_the_threads_metadata_with_full_paths():
    seen = []

    def look(name):
        def node(state):
            meta = state.execution_meta
            seen.append((name, meta.current_node, meta.step, meta.thread_id, meta.status.value))
        return node

    def route(state):
        meta = state.execution_meta
        seen.append(("route", meta.current_node, meta.step, meta.thread_id, meta.status.value))
        return END

    inner = StateGraph(Doc)
    inner.add_node("A", look("A"))
    inner.add_node("B", look("B"))
    inner.add_edge(START, "A").add_edge("A", "B").add_conditional_edges("B", route)
    graph = StateGraph(Doc)
    graph.add_node("PLAN", look("PLAN"))
    graph.add_node("SUB", inner.compile(interrupt_before=["B"]))
    app = graph.compile()
    go(app, thread="m")
    resume(app, thread="m")
    assert seen == [
        ("PLAN", None, 0, "m", "running"),
        ("A", "PLAN", 1, "m", "running"),
        ("B", "SUB/B", 2, "m", "running"),  # paused before B, as in a flat graph; resumed: running
        ("route", "SUB/B", 3, "m", "running"),
    ]


def test_a_result_the_parent_refuses_fails_at_the_subgraph_node_and_an_edit_then_retry_passes_it_out():
    from pydantic import field_validator

    class Rated(AgentState):
        score: int = 0

    class Capped(Rated):
        @field_validator("score")
        @classmethod
        def _at_most_ten(cls, value: int) -> int:
            if value > 10:
                raise ValueError("score is at most 10")
            return value

    calls = []
    inner = StateGraph(Rated)
    inner.add_node("RATE", logged(calls, "RATE", lambda s: {"score": 99}))
    graph = StateGraph(Capped)
    graph.add_node("SUB", inner.compile())
    graph.add_node("AFTER", lambda s: None)
    app = graph.compile()
    with pytest.raises(NodeError, match=r"(?s)node `SUB` raised ValidationError.*score is at most 10") as info:
        go(app)
    assert info.value.node == "SUB"
    saved = app.get_state({"thread_id": "t"})
    assert saved.status is S.ERROR and [f.path for f in saved.frames] == ["SUB"]  # still inside, RATE done
    app.update_state({"thread_id": "t"}, {"score": 7}, subgraph="SUB")
    done = resume(app)  # passes the results out again; RATE does not run again
    assert done["status"] is S.COMPLETED and done["state"].score == 7 and calls == ["RATE"]
