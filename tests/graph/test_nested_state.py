"""State at a pause inside a subgraph: reading, editing, history, forks, and how it is saved."""

from __future__ import annotations

import json

import pydantic
import pytest

from agentflow_nb import END, START, ExecutionStatus, FileCheckpointer, GraphError, Message, NodeError, StateGraph
from agentflow_nb.checkpointer.base import loaded_frames
from tests.graph.nested_graphs import Doc, go, resume, supervisor, writer_graph

S = ExecutionStatus
T = {"thread_id": "t"}


def paused_in_writer(saver, calls=None):
    calls = [] if calls is None else calls
    app = supervisor(calls, writer_graph(calls, interrupt_before=["REVIEW"]), checkpointer=saver)
    go(app)
    return app


def test_get_state_shows_the_parent_and_the_subgraph_state(saver):
    app = paused_in_writer(saver)
    cp = app.get_state(T)
    assert cp.node == "WRITER/REVIEW" and cp.status is S.INTERRUPTED_BEFORE
    assert isinstance(cp.state, Doc) and cp.state.topic == "owls" and cp.state.draft == ""  # not passed out yet
    [frame] = cp.frames
    assert frame.path == "WRITER" and frame.parts == ("WRITER",) and frame.graph is app.graph_at("WRITER")
    assert frame.state.draft == "about owls" and frame.state.topic == "owls"
    assert cp.state_at("WRITER") is frame.state and cp.state_at() is cp.state
    meta = frame.state.execution_meta  # the thread's: positions are full paths
    assert (meta.current_node, meta.next_node, meta.status) == ("WRITER/REVIEW", "WRITER/REVIEW", S.INTERRUPTED_BEFORE)
    assert [m.content for m in frame.state.messages] == [m.content for m in cp.state.messages]
    assert loaded_frames(cp.state) == ()  # the decoded checkpoint carries no packed leftovers
    with pytest.raises(LookupError, match=r"not inside subgraph `EDITOR`; it is inside `WRITER`"):
        cp.state_at("EDITOR")


def test_update_state_edits_the_subgraph_validated_by_its_schema_then_resume_uses_it(saver):
    calls = []
    app = paused_in_writer(saver, calls)
    before = app.get_state(T)
    with pytest.raises(pydantic.ValidationError):
        app.update_state(T, {"approved": "not a bool"}, subgraph="WRITER")
    assert app.get_state(T).checkpoint_id == before.checkpoint_id  # nothing saved
    edit = app.update_state(T, {"approved": True, "messages": [Message.text_message("LGTM")]}, subgraph="WRITER")
    assert edit.source == "edit" and edit.state_at("WRITER").approved and not edit.state.approved
    saved = app.get_state(T)
    assert saved.checkpoint_id == edit.checkpoint_id and saved.state_at("WRITER").approved
    assert saved.state.messages[-1].content == "LGTM"  # one conversation: the parent sees it too
    done = resume(app)
    assert calls == ["PLAN", "DRAFT", "REVIEW", "PUBLISH"]
    assert [m.content for m in done["messages"]][-3:] == [
        "LGTM", "review: approved=True", "published 'about owls' approved=True"]


def test_update_state_edits_the_parent_while_paused_inside(saver):
    app = paused_in_writer(saver)
    app.update_state(T, {"notes": ["parent note"]})
    cp = app.get_state(T)
    assert cp.state.notes == ["parent note"] and cp.state_at("WRITER").notes == []
    assert resume(app)["state"].notes == ["parent note"]


def test_update_state_of_a_subgraph_the_thread_is_not_in_is_an_error(saver):
    app = paused_in_writer(saver)
    with pytest.raises(LookupError, match=r"not inside subgraph `EDITOR`; it is paused inside `WRITER`"):
        app.update_state(T, {"approved": True}, subgraph="EDITOR")
    resume(app)
    with pytest.raises(LookupError, match="it is not inside any subgraph"):
        app.update_state(T, {"approved": True}, subgraph="WRITER")


def test_history_lists_the_subgraphs_steps_with_their_paths(saver):
    app = paused_in_writer(saver)
    resume(app)
    history = app.get_state_history(T)
    assert [(c.step, c.node, c.status, [f.path for f in c.frames]) for c in history] == [
        (5, "PUBLISH", S.COMPLETED, []),
        (4, "WRITER", S.RUNNING, []),
        (3, "WRITER/REVIEW", S.RUNNING, ["WRITER"]),
        (2, "WRITER/REVIEW", S.INTERRUPTED_BEFORE, ["WRITER"]),
        (2, "WRITER/DRAFT", S.RUNNING, ["WRITER"]),
        (1, "PLAN", S.RUNNING, []),
        (0, None, S.RUNNING, []),
    ]
    assert history[4].state_at("WRITER").draft == "about owls"


def test_forking_from_a_checkpoint_inside_a_subgraph_resumes_there(saver):
    calls = []
    app = paused_in_writer(saver, calls)
    resume(app)
    inside = next(c for c in app.get_state_history(T) if c.node == "WRITER/DRAFT")
    forked = app.fork({"thread_id": "t", "checkpoint_id": inside.checkpoint_id}, "branch")
    cp = app.get_state(forked)
    assert cp.node == "WRITER/DRAFT" and [f.path for f in cp.frames] == ["WRITER"]
    assert cp.state_at("WRITER").execution_meta.thread_id == "branch"
    calls.clear()
    paused = app.invoke({}, config=forked)  # goes on inside the subgraph: REVIEW is next
    assert paused["current_node"] == "WRITER/REVIEW" and calls == []
    assert resume(app, "branch")["status"] is S.COMPLETED and calls == ["REVIEW", "PUBLISH"]


def test_replaying_from_a_checkpoint_inside_a_subgraph(saver):
    calls = []
    app = paused_in_writer(saver, calls)
    inside = app.get_state(T)
    resume(app)
    calls.clear()
    again = app.invoke({}, config={"thread_id": "t", "checkpoint_id": inside.checkpoint_id})
    assert again["status"] is S.COMPLETED and calls == ["REVIEW", "PUBLISH"]


def test_a_step_inside_a_subgraph_saves_only_what_it_changed(tmp_path):
    saver = FileCheckpointer(tmp_path)
    calls = []
    writer = writer_graph(calls)
    history = [Message.text_message(f"earlier {i}") for i in range(200)]
    app = supervisor(calls, writer, checkpointer=saver)
    app.invoke({"messages": history}, config=T)
    lines = [json.loads(line) for line in saver.file_for("t").read_text().splitlines()]
    by_node = {line["node"]: line for line in lines}
    review = by_node["WRITER/REVIEW"]  # appended one message inside the subgraph
    assert not review["snap"] and review["mfrom"] == 200 and len(review["messages"]) == 1
    assert set(review["fields"]) <= {"execution_meta", "/"}  # the subgraph's fields did not change
    draft = by_node["WRITER/DRAFT"]
    assert draft["messages"] == [] and "/1/draft" in draft["fields"]
    leave = by_node["WRITER"]  # the subgraph ended: its fields dropped, the draft passed out
    assert leave["messages"] == [] and "draft" in leave["fields"] and "/1/draft" in leave["drop"]


def test_a_thread_paused_inside_resumes_in_a_new_graph_object(tmp_path):
    calls = []
    paused_in_writer(FileCheckpointer(tmp_path), calls)
    again = supervisor(calls, writer_graph(calls, interrupt_before=["REVIEW"]), checkpointer=FileCheckpointer(tmp_path))
    assert again.get_state(T).state_at("WRITER").draft == "about owls"
    assert resume(again)["status"] is S.COMPLETED and calls == ["PLAN", "DRAFT", "REVIEW", "PUBLISH"]


def test_loading_a_thread_inside_a_subgraph_this_graph_lacks_is_a_clear_error(saver):
    paused_in_writer(saver)
    other = StateGraph(Doc)
    other.add_node("PLAN", lambda s: None)
    app = other.compile(checkpointer=saver)
    with pytest.raises(GraphError, match=r"`WRITER` is not a subgraph: the graph has no subgraph node `WRITER`"):
        app.get_state(T)


def test_field_names_reserved_for_frames_are_refused(saver):
    app = paused_in_writer(saver)
    with pytest.raises(ValueError, match=r"`/1/draft`: field names starting with `/` are reserved"):
        app.update_state(T, {"/1/draft": "sneaky"})


def test_custom_serializers_inside_a_subgraph_round_trip(saver):
    from datetime import date

    from pydantic import field_serializer

    class Dated(Doc):
        due: date = date(2030, 1, 1)

        @field_serializer("due")
        def _due(self, value: date) -> str:
            return value.isoformat()

    inner = StateGraph(Dated)
    inner.add_node("SET", lambda s: {"due": date(2031, 2, 3)})
    inner.add_node("WAIT", lambda s: None)
    graph = StateGraph(Dated)
    graph.add_node("SUB", inner.compile(interrupt_before=["WAIT"]))
    app = graph.compile(checkpointer=saver)
    go(app)
    assert app.get_state(T).state_at("SUB").due == date(2031, 2, 3)
    assert resume(app)["state"].due == date(2031, 2, 3)


def test_leaving_a_subgraph_with_its_own_conversation_rewrites_no_message(tmp_path, saver):
    inner = StateGraph(Doc)
    inner.add_node("THINK", lambda s: [Message.text_message(f"thought {i}", role="assistant") for i in range(3)])
    graph = StateGraph(Doc)
    graph.add_node("SUB", inner.compile(), share_messages=False)
    graph.add_node("AFTER", lambda s: Message.text_message("after", role="assistant"))
    app = graph.compile(checkpointer=saver)
    history = [Message.text_message(f"earlier {i}") for i in range(50)]
    done = app.invoke({"messages": history}, config=T)
    assert [m.content for m in done["messages"]][-2:] == ["earlier 49", "after"] and len(done["messages"]) == 51
    by_node = {c.node: c for c in app.get_state_history(T)}
    assert len(by_node["SUB/THINK"].state_at("SUB").messages) == 3 and len(by_node["SUB"].state.messages) == 50
    if isinstance(saver, FileCheckpointer):
        lines = {line["node"]: line for line in map(json.loads, saver.file_for("t").read_text().splitlines())}
        assert lines["SUB/THINK"]["mfrom"] == 50 and len(lines["SUB/THINK"]["messages"]) == 3
        assert lines["SUB"]["mfrom"] == 50 and lines["SUB"]["messages"] == []  # cut back, not rewritten


def test_a_returned_state_carrying_a_reserved_field_name_is_a_node_error_and_the_thread_still_loads(saver):
    def sneaky(state):
        setattr(state, "/", {"n": 5})
        return state

    graph = StateGraph(Doc)
    graph.add_node("A", sneaky)
    graph.add_node("B", lambda s: None)
    graph.add_edge(START, "A").add_edge("A", "B").add_edge("B", END)
    app = graph.compile(checkpointer=saver)
    with pytest.raises(NodeError, match=r"field names starting with `/` are reserved"):
        app.invoke({"topic": "owls"}, config=T)
    saved = app.get_state(T)
    assert saved.status is ExecutionStatus.ERROR and "/" not in (saved.state.model_extra or {})
