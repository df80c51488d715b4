"""The resume rules: where a paused thread goes on, and that no node body runs twice per visit."""

from __future__ import annotations

import pytest

from agentflow_nb import (
    END,
    START,
    Command,
    ExecutionStatus,
    GraphRecursionError,
    Message,
    StateGraph,
)
from agentflow_nb.state import AgentState
from tests.conftest import recorder

S = ExecutionStatus


def chain(make, *names, **compile_kwargs):
    graph = StateGraph()
    for name in names:
        graph.add_node(name, make(name))
    order = [START, *names, END]
    for a, b in zip(order, order[1:]):
        graph.add_edge(a, b)
    return graph.compile(**compile_kwargs)


def go(app, thread="t", text="go"):
    return app.invoke({"messages": [Message.text_message(text)]}, config={"thread_id": thread})


def resume(app, thread="t"):
    return app.invoke({}, config={"thread_id": thread})


def test_paused_before_runs_that_node_on_resume_without_pausing_again(saver):
    calls, make = recorder()
    app = chain(make, "A", "B", "C", interrupt_before=["B"], checkpointer=saver)
    first = go(app)
    assert (first["status"], first["current_node"], calls) == (S.INTERRUPTED_BEFORE, "B", ["A"])
    done = resume(app)
    assert done["status"] is S.COMPLETED and calls == ["A", "B", "C"]


def test_paused_after_runs_the_next_node_on_resume(saver):
    calls, make = recorder()
    app = chain(make, "A", "B", "C", interrupt_after=["B"], checkpointer=saver)
    first = go(app)
    assert (first["status"], first["current_node"], calls) == (S.INTERRUPTED_AFTER, "B", ["A", "B"])
    assert first["interrupt_reason"] == "interrupt_after: B"
    assert resume(app)["status"] is S.COMPLETED and calls == ["A", "B", "C"]


def test_before_and_after_on_one_node_pause_twice_and_run_it_once(saver):
    calls, make = recorder()
    app = chain(make, "A", "B", "C", interrupt_before=["B"], interrupt_after=["B"], checkpointer=saver)
    assert go(app)["status"] is S.INTERRUPTED_BEFORE
    after = resume(app)
    assert (after["status"], after["current_node"]) == (S.INTERRUPTED_AFTER, "B")
    assert resume(app)["status"] is S.COMPLETED
    assert calls == ["A", "B", "C"]


def loop_graph(make, limit=3, **compile_kwargs):
    graph = StateGraph()
    graph.add_node("WORK", make("WORK", "worked"))
    graph.add_node("CHECK", make("CHECK"))
    graph.add_edge(START, "WORK").add_edge("WORK", "CHECK")
    graph.add_conditional_edges(
        "CHECK",
        lambda s: "again" if sum(m.content == "worked" for m in s.messages) < limit else "done",
        {"again": "WORK", "done": END},
    )
    return graph.compile(**compile_kwargs)


@pytest.mark.parametrize("where", ["interrupt_before", "interrupt_after"])
def test_breakpoints_fire_at_every_visit_in_a_loop(where, saver):
    calls, make = recorder()
    app = loop_graph(make, **{where: ["WORK"]}, checkpointer=saver)
    result = go(app)
    pauses = 0
    while result["interrupted"]:
        assert result["current_node"] == "WORK"
        pauses += 1
        result = resume(app)
    assert pauses == 3
    assert calls == ["WORK", "CHECK"] * 3


def test_node_set_interrupt_before_runs_that_node_again_and_drops_its_first_effects(saver):
    runs: list[int] = []

    def gate(state):
        runs.append(len(state.messages))
        state.messages.append(Message.text_message("gate saw it", role="assistant"))
        if not any(m.content == "ok" for m in state.messages):
            state.set_interrupt("GATE", "needs ok", ExecutionStatus.INTERRUPTED_BEFORE, {"k": 1})
        return state

    graph = StateGraph()
    graph.add_node("GATE", gate)
    graph.add_node("AFTER", lambda s: "after")
    app = graph.compile(checkpointer=saver)
    paused = go(app)
    assert paused["status"] is S.INTERRUPTED_BEFORE and paused["interrupt_reason"] == "needs ok"
    assert [m.content for m in paused["messages"]] == ["go"]  # the interrupted visit left no trace
    done = app.invoke({"messages": [Message.text_message("ok")]}, config={"thread_id": "t"})
    assert done["status"] is S.COMPLETED
    assert [m.content for m in done["messages"]] == ["go", "ok", "gate saw it", "after"]
    assert runs == [1, 2]


def test_node_set_interrupt_after_keeps_its_effects_and_goes_on_to_the_next_node(saver):
    calls, make = recorder()

    def review(state, config):
        state.set_interrupt("REVIEW", "look at this", ExecutionStatus.INTERRUPTED_AFTER)
        return {"reviewed": True}  # set_interrupt on the copy counts even with a dict return

    graph = StateGraph()
    graph.add_node("REVIEW", review)
    graph.add_node("NEXT", make("NEXT"))
    app = graph.compile(checkpointer=saver)
    paused = go(app)
    assert (paused["status"], paused["current_node"]) == (S.INTERRUPTED_AFTER, "REVIEW")
    assert paused["state"].reviewed is True and calls == []
    assert resume(app)["status"] is S.COMPLETED and calls == ["NEXT"]


def test_completed_thread_given_new_input_starts_again_and_keeps_messages(saver):
    calls, make = recorder()
    app = chain(make, "A", "B", checkpointer=saver)
    go(app, text="first")
    again = go(app, text="second")
    assert again["status"] is S.COMPLETED and calls == ["A", "B", "A", "B"]
    assert [m.content for m in again["messages"]] == ["first", "second"]
    assert again["step"] == 4


def test_empty_input_on_a_completed_thread_changes_nothing(saver):
    calls, make = recorder()
    app = chain(make, "A", checkpointer=saver)
    done = go(app)
    again = resume(app)
    assert calls == ["A"] and again["checkpoint_id"] == done["checkpoint_id"]
    assert again["status"] is S.COMPLETED and again["interrupted"] is False


def test_command_goto_and_routing_after_a_pause_use_the_edited_state(saver):
    class Ticket(AgentState):
        approved: bool = False

    graph = StateGraph(Ticket)
    graph.add_node("REVIEW", lambda s: Command(update={"approved": s.approved}, goto="DECIDE"), ends=["DECIDE"])
    graph.add_node("DECIDE", lambda s: None)
    graph.add_node("SHIP", lambda s: "shipped")
    graph.add_node("REJECT", lambda s: "rejected")
    graph.add_edge(START, "REVIEW")
    graph.add_conditional_edges("DECIDE", lambda s: "yes" if s.approved else "no", {"yes": "SHIP", "no": "REJECT"})
    graph.add_edge("SHIP", END).add_edge("REJECT", END)
    app = graph.compile(checkpointer=saver, interrupt_after=["DECIDE"])
    config = {"thread_id": "t"}
    paused = app.invoke({"approved": False}, config=config)
    assert paused["current_node"] == "DECIDE"
    app.update_state(config, {"approved": True})
    assert app.invoke({}, config=config)["messages"][-1].content == "shipped"


def test_bad_goto_is_a_node_error_naming_the_target(saver):
    from agentflow_nb import NodeError

    graph = StateGraph()
    graph.add_node("A", lambda s: Command(goto="NOWHERE"), ends=[END])
    app = graph.set_entry_point("A").compile(checkpointer=saver)
    with pytest.raises(NodeError, match="Command\\(goto=...\\) of `A` returned `'NOWHERE'`"):
        go(app)


def test_router_returning_an_unknown_key_is_a_node_error(saver):
    from agentflow_nb import NodeError

    graph = StateGraph()
    graph.add_node("A", lambda s: None)
    graph.add_node("B", lambda s: None)
    graph.add_edge(START, "A").add_edge("B", END)
    graph.add_conditional_edges("A", lambda s: "maybe", {"yes": "B", "no": END})
    app = graph.compile(checkpointer=saver)
    with pytest.raises(NodeError, match="router `<lambda>` of `A` returned `'maybe'`; expected one of `yes`, `no`"):
        go(app)
    assert app.get_state({"thread_id": "t"}).status is S.ERROR


def test_conditional_breakpoint_fires_only_when_its_condition_holds(saver):
    calls, make = recorder()
    app = loop_graph(make, limit=4, checkpointer=saver)
    config = {"thread_id": "t", "interrupt_before": {"WORK": lambda s: len(s.messages) == 3}}
    first = app.invoke({"messages": [Message.text_message("go")]}, config=config)
    assert (first["current_node"], first["status"]) == ("WORK", S.INTERRUPTED_BEFORE)
    assert calls == ["WORK", "CHECK"] * 2 and len(first["state"].messages) == 3
    done = app.invoke({}, config=config)  # the condition no longer holds on later visits
    assert done["status"] is S.COMPLETED and calls == ["WORK", "CHECK"] * 4


def test_a_failing_breakpoint_condition_is_a_node_error_and_the_thread_is_kept(saver):
    from agentflow_nb import NodeError

    _, make = recorder()
    app = loop_graph(make, checkpointer=saver)
    config = {"thread_id": "t", "interrupt_after": {"CHECK": lambda s: s.nope}}
    with pytest.raises(NodeError, match="breakpoint condition on `CHECK` raised AttributeError"):
        app.invoke({"messages": [Message.text_message("go")]}, config=config)
    assert app.get_state(config).status is S.ERROR
    assert resume(app)["status"] is S.COMPLETED


def test_step_pauses_after_one_node(saver):
    calls, make = recorder()
    app = chain(make, "A", "B", "C", checkpointer=saver)
    config = {"thread_id": "t", "step": True}
    first = app.invoke({"messages": [Message.text_message("go")]}, config=config)
    assert (first["current_node"], first["interrupt_reason"], calls) == ("A", "step: A", ["A"])
    second = app.invoke({}, config=config)
    assert (second["current_node"], calls) == ("B", ["A", "B"])
    assert resume(app)["status"] is S.COMPLETED and calls == ["A", "B", "C"]


def test_per_run_breakpoints_are_checked_against_the_graph(saver):
    from agentflow_nb import GraphError

    _, make = recorder()
    app = chain(make, "A", "B", checkpointer=saver)
    with pytest.raises(GraphError, match="interrupt_before names `Q`"):
        app.invoke({"messages": []}, config={"thread_id": "t", "interrupt_before": ["Q"]})


def test_a_node_added_to_the_builder_after_compile_is_not_a_breakpoint_of_the_compiled_graph(saver):
    from agentflow_nb import GraphError

    _, make = recorder()
    app = chain(make, "A", "B", checkpointer=saver)
    app.builder.add_node("LATE", make("LATE"))  # the compiled graph never runs it
    for key in ("interrupt_before", "interrupt_after"):
        with pytest.raises(GraphError, match=f"{key} names `LATE`, which is not a node; nodes are `A`, `B`"):
            app.invoke({"messages": []}, config={"thread_id": "t", key: {"LATE": None}})
    assert app.get_state({"thread_id": "t"}) is None  # refused before anything was saved


def test_recursion_limit_saves_the_thread_and_invoking_again_continues(saver):
    calls, make = recorder()
    app = loop_graph(make, limit=5, checkpointer=saver)
    config = {"thread_id": "t", "recursion_limit": 4}
    with pytest.raises(GraphRecursionError, match="recursion_limit 4") as info:
        app.invoke({"messages": [Message.text_message("go")]}, config=config)
    assert info.value.thread_id == "t"
    assert calls == ["WORK", "CHECK"] * 2
    saved = app.get_state(config)
    assert saved.status is S.ERROR and saved.state.execution_meta.next_node == "WORK"
    result = app.invoke({}, config={"thread_id": "t", "recursion_limit": 100})
    assert result["status"] is S.COMPLETED and calls == ["WORK", "CHECK"] * 5


def test_bad_recursion_limit(saver):
    _, make = recorder()
    app = chain(make, "A", checkpointer=saver)
    with pytest.raises(ValueError, match="recursion_limit.*whole number"):
        app.invoke({"messages": []}, config={"thread_id": "t", "recursion_limit": 0})


def test_time_travel_replays_from_an_earlier_checkpoint_on_the_same_thread(saver):
    calls, make = recorder()
    app = chain(make, "A", "B", "C", interrupt_after=["A"], checkpointer=saver)
    go(app)
    paused_after_a = app.get_state({"thread_id": "t"})
    resume(app)
    assert calls == ["A", "B", "C"]
    replay = app.invoke({}, config={"thread_id": "t", "checkpoint_id": paused_after_a.checkpoint_id})
    assert replay["status"] is S.COMPLETED and calls == ["A", "B", "C", "B", "C"]
    newest = app.get_state({"thread_id": "t"})
    assert newest.checkpoint_id == replay["checkpoint_id"]
