"""History, edits and forks through the compiled graph."""

from __future__ import annotations

import pydantic
import pytest

from agentflow_nb import ExecutionStatus, Message, StateGraph, UnknownThreadError
from agentflow_nb.state import AgentState

S = ExecutionStatus


class Ticket(AgentState):
    priority: int = 1
    approved: bool = False


def ticket_app(saver):
    graph = StateGraph(Ticket)
    graph.add_node("TRIAGE", lambda s: {"priority": s.priority + 1})
    graph.add_node("APPROVE", lambda s: f"approved={s.approved} priority={s.priority}")
    return graph.compile(checkpointer=saver, interrupt_before=["APPROVE"])


def test_every_step_is_in_the_history_newest_first(saver):
    app = ticket_app(saver)
    config = {"thread_id": "t"}
    app.invoke({"messages": [Message.text_message("go")]}, config=config)
    app.invoke({}, config=config)
    history = app.get_state_history(config)
    assert [(c.step, c.node, c.status) for c in history] == [
        (2, "APPROVE", S.COMPLETED),
        (1, "APPROVE", S.INTERRUPTED_BEFORE),
        (1, "TRIAGE", S.RUNNING),
        (0, None, S.RUNNING),
    ]
    assert [c.state.priority for c in history] == [2, 2, 2, 1]
    assert all(c.thread_id == "t" for c in history)
    assert history[0].parent_id == history[1].checkpoint_id


def test_results_do_not_alias_saved_checkpoints(saver):
    app = ticket_app(saver)
    config = {"thread_id": "t"}
    result = app.invoke({"messages": [Message.text_message("go")]}, config=config)
    result["state"].priority = 99
    result["messages"].clear()
    saved = app.get_state(config)
    assert saved.state.priority == 2 and len(saved.state.messages) == 1


def test_update_state_saves_an_edit_checkpoint_that_the_resume_uses(saver):
    app = ticket_app(saver)
    config = {"thread_id": "t"}
    app.invoke({"messages": [Message.text_message("go")]}, config=config)
    edit = app.update_state(config, {"approved": True, "messages": [Message.text_message("note")]})
    assert edit.source == "edit" and edit.status is S.INTERRUPTED_BEFORE
    assert app.get_state(config).checkpoint_id == edit.checkpoint_id
    result = app.invoke({}, config=config)
    assert result["messages"][-1].content == "approved=True priority=2"
    assert [m.content for m in result["messages"]][:2] == ["go", "note"]


def test_an_invalid_update_saves_nothing_and_the_thread_still_loads(saver):
    app = ticket_app(saver)
    config = {"thread_id": "t"}
    app.invoke({"messages": [Message.text_message("go")]}, config=config)
    before = [c.checkpoint_id for c in app.get_state_history(config)]
    with pytest.raises(pydantic.ValidationError, match="priority"):
        app.update_state(config, {"approved": True, "priority": "urgent"})
    assert [c.checkpoint_id for c in app.get_state_history(config)] == before
    state = app.get_state(config).state
    assert (state.approved, state.priority) == (False, 2)
    assert app.invoke({}, config=config)["status"] is S.COMPLETED


def test_update_state_of_an_unknown_thread(saver):
    with pytest.raises(UnknownThreadError, match="`nope`"):
        ticket_app(saver).update_state({"thread_id": "nope"}, {"approved": True})


def test_fork_then_run_both_branches_independently(saver):
    app = ticket_app(saver)
    config = {"thread_id": "main"}
    app.invoke({"messages": [Message.text_message("go")]}, config=config)
    paused = app.get_state(config)
    fork = app.fork({"thread_id": "main", "checkpoint_id": paused.checkpoint_id}, new_thread_id="alt")
    assert fork == {"thread_id": "alt"}
    forked = app.get_state(fork)
    assert forked.source == "fork" and forked.parent_id == paused.checkpoint_id
    app.update_state(fork, {"approved": True})
    alt = app.invoke({}, config=fork)
    main = app.invoke({}, config=config)
    assert alt["messages"][-1].content == "approved=True priority=2"
    assert main["messages"][-1].content == "approved=False priority=2"
    assert alt["state"].execution_meta.thread_id == "alt"
    assert len(app.get_state_history(fork)) == 3
    assert sorted(app.threads()) == ["alt", "main"]


def test_fork_errors(saver):
    app = ticket_app(saver)
    app.invoke({"messages": []}, config={"thread_id": "main"})
    with pytest.raises(LookupError, match="checkpoint `bad`"):
        app.fork({"thread_id": "main", "checkpoint_id": "bad"})
    with pytest.raises(ValueError, match="already exists"):
        app.fork({"thread_id": "main"}, new_thread_id="main")
    generated = app.fork({"thread_id": "main"})
    assert generated["thread_id"].startswith("main-fork-")
