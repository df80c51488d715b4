"""What nodes may return, what they receive, and how input is merged and checked."""

from __future__ import annotations

import asyncio

import pydantic
import pytest

from agentflow_nb import (
    Command,
    ExecutionStatus,
    Message,
    NodeError,
    StateGraph,
    UnknownFieldError,
    UnknownThreadError,
)
from agentflow_nb.state import AgentState, ExecutionMeta


class Order(AgentState):
    amount: int = 0
    note: str = ""
    tags: list[str] = []


def single(node, state_cls=Order, **compile_kwargs):
    graph = StateGraph(state_cls)
    graph.add_node("NODE", node)
    return graph.compile(**compile_kwargs)


def run(app, values=None, thread="t"):
    values = {"messages": [Message.text_message("go")]} if values is None else values
    return app.invoke(values, config={"thread_id": thread})


def test_returning_the_same_state_after_mutating_it():
    def node(state):
        state.amount = 5
        state.tags.append("x")
        return state

    result = run(single(node))
    assert (result["state"].amount, result["state"].tags) == (5, ["x"])


def test_returning_a_new_state():
    result = run(single(lambda s: Order(amount=9, messages=list(s.messages))))
    assert result["state"].amount == 9 and [m.content for m in result["messages"]] == ["go"]


def test_returning_a_dict_of_updates_and_messages():
    result = run(single(lambda s: {"amount": 3, "messages": [Message.text_message("hi", role="assistant")]}))
    assert result["state"].amount == 3
    assert [m.content for m in result["messages"]] == ["go", "hi"]


def test_returning_the_whole_message_list_plus_one_does_not_duplicate():
    result = run(single(lambda s: {"messages": s.messages + [Message.text_message("new")]}))
    assert [m.content for m in result["messages"]] == ["go", "new"]


@pytest.mark.parametrize(
    ("returned", "expected"),
    [
        (Message.text_message("one", role="assistant"), ["go", "one"]),
        ([Message.text_message("a"), Message.text_message("b")], ["go", "a", "b"]),
        ("plain text", ["go", "plain text"]),
        (None, ["go"]),
    ],
)
def test_message_returns(returned, expected):
    result = run(single(lambda s: returned))
    assert [m.content for m in result["messages"]] == expected


def test_a_str_return_is_an_assistant_message():
    assert run(single(lambda s: "x"))["messages"][-1].role == "assistant"


def test_none_means_no_change_even_after_mutating_the_copy():
    def node(state):
        state.amount = 99
        return None

    assert run(single(node))["state"].amount == 0


def test_command_update_is_applied():
    result = run(single(lambda s: Command(update={"note": "done"})))
    assert result["state"].note == "done"


def test_unsupported_return_type_is_a_node_error_naming_node_and_type():
    with pytest.raises(NodeError, match="node `NODE` returned a `int`; a node may return the state, a dict"):
        run(single(lambda s: 42))


def test_a_list_of_non_messages_is_refused():
    with pytest.raises(NodeError, match="returned a `list`"):
        run(single(lambda s: [1, 2]))


def test_a_bad_dict_update_is_a_node_error_from_the_validation_error():
    with pytest.raises(NodeError, match="ValidationError") as info:
        run(single(lambda s: {"amount": "lots"}))
    assert isinstance(info.value.__cause__, pydantic.ValidationError)


def test_a_bad_assignment_inside_a_node_fails_at_that_line():
    def node(state):
        state.amount = "lots"

    with pytest.raises(NodeError, match="amount"):
        run(single(node))


def test_async_nodes_and_the_config_argument():
    seen = {}

    async def node(state, config):
        await asyncio.sleep(0)
        seen.update(config)
        return {"note": config["thread_id"]}

    result = run(single(node), thread="cfg")
    assert result["state"].note == "cfg" and seen["thread_id"] == "cfg"


def test_nodes_get_a_copy_so_the_saved_state_is_untouched_by_a_failing_node():
    def node(state):
        state.tags.append("half-done")
        raise RuntimeError("boom")

    app = single(node)
    with pytest.raises(NodeError):
        run(app, {"tags": ["kept"]})
    assert app.get_state({"thread_id": "t"}).state.tags == ["kept"]


def test_extra_input_fields_are_kept():
    result = run(single(lambda s: {"seen": s.input_data}, state_cls=AgentState), {"input_data": [1, 2]})
    assert result["state"].seen == [1, 2]


def test_invalid_input_raises_and_leaves_the_saved_thread_untouched():
    app = single(lambda s: None, interrupt_before=["NODE"])
    config = {"thread_id": "t"}
    run(app, {"amount": 1, "messages": [Message.text_message("go")]})
    before = app.get_state_history(config)
    with pytest.raises(pydantic.ValidationError, match="amount"):
        app.invoke({"amount": "not a number", "messages": [Message.text_message("lost?")]}, config=config)
    after = app.get_state_history(config)
    assert [c.checkpoint_id for c in after] == [c.checkpoint_id for c in before]
    assert after[0].state.amount == 1 and [m.content for m in after[0].state.messages] == ["go"]
    assert app.invoke({}, config=config)["status"] is ExecutionStatus.COMPLETED


def test_input_cannot_set_the_engine_metadata():
    with pytest.raises(ValueError, match="`execution_meta` is managed by the engine"):
        run(single(lambda s: None), {"execution_meta": {"status": "completed"}})


def test_each_new_state_gets_its_own_default_metadata():
    first, second = AgentState(), AgentState(messages=[])
    assert first.execution_meta == ExecutionMeta() and first.execution_meta.model_fields_set == set()
    first.execution_meta.step = 7
    first.execution_meta.set_interrupt("NODE", "why")
    # nothing set on one state's metadata reaches another's, nor the next new state's
    assert second.execution_meta == ExecutionMeta() == AgentState().execution_meta
    assert first.execution_meta.step == 7 and first.execution_meta.model_fields_set >= {"step"}


def test_input_must_be_a_dict():
    with pytest.raises(TypeError, match="input must be a dict"):
        run(single(lambda s: None), ["go"])


def test_the_same_message_is_not_added_twice():
    app = single(lambda s: None, interrupt_before=["NODE"])
    message = Message.text_message("once")
    app.invoke({"messages": [message]}, config={"thread_id": "t"})
    result = app.invoke({"messages": [message]}, config={"thread_id": "t"})
    assert [m.content for m in result["messages"]] == ["once"]


@pytest.mark.parametrize("call", ["invoke", "update_state", "fork"])
def test_an_unknown_thread_is_named_and_no_other_thread_of_a_shared_store_is(call, saver):
    app = single(lambda s: None, checkpointer=saver)
    run(app, thread="session-123")  # another user's thread in the same store
    run(app, thread="alice-private")
    config = {"thread_id": "session-124"}
    with pytest.raises(UnknownThreadError, match="`session-124` has no saved checkpoint") as caught:
        {"invoke": lambda: app.invoke({}, config=config),
         "update_state": lambda: app.update_state(config, {"x": 1}),
         "fork": lambda: app.fork(config)}[call]()
    assert "session-123" not in str(caught.value) and "alice" not in str(caught.value)
    assert "app.threads()" in str(caught.value)
    with pytest.raises(UnknownThreadError, match="To start a new run, pass input"):
        app.invoke(None, config={"thread_id": "other"})


def test_a_missing_thread_id_warns_and_makes_one():
    app = single(lambda s: None)
    with pytest.warns(UserWarning, match="config has no `thread_id`"):
        result = app.invoke({"messages": []})
    assert result["thread_id"] and app.get_state({"thread_id": result["thread_id"]}) is not None


def test_a_bad_thread_id_and_config():
    app = single(lambda s: None)
    with pytest.raises(ValueError, match="thread_id"):
        app.invoke({"messages": []}, config={"thread_id": 5})
    with pytest.raises(TypeError, match="config must be a dict"):
        app.invoke({"messages": []}, config="t")


def test_the_result_dict_has_every_key():
    result = run(single(lambda s: None, interrupt_after=["NODE"]))
    assert set(result) == {
        "messages", "state", "interrupted", "interrupt_reason", "current_node", "current_path",
        "status", "thread_id", "step", "checkpoint_id",
    }
    assert result["interrupted"] is True and result["step"] == 1


def test_a_state_instance_gives_new_threads_their_start():
    graph = StateGraph(Order(amount=7))
    graph.add_node("NODE", lambda s: {"note": str(s.amount)})
    assert run(graph.compile())["state"].note == "7"


def test_a_value_that_cannot_be_saved_as_json_is_a_node_error_and_nothing_is_lost():
    app = single(lambda s: {"handle": object()}, state_cls=AgentState)
    config = {"thread_id": "t"}
    with pytest.raises(NodeError, match="node `NODE` left a value .*`handle` is a `object`, which cannot be saved as JSON"):
        run(app)
    saved = app.get_state(config)
    assert saved.status is ExecutionStatus.ERROR and [m.content for m in saved.state.messages] == ["go"]
    assert "handle" not in (saved.state.model_extra or {})


def test_a_node_value_json_would_change_is_a_node_error_naming_node_and_path(saver):
    import datetime as dt

    app = single(lambda s: {"audit": {"when": dt.datetime(2026, 1, 1)}}, state_cls=AgentState, checkpointer=saver)
    config = {"thread_id": "t"}
    with pytest.raises(NodeError, match="node `NODE` left a value .*`audit.when` is a `datetime`") as caught:
        run(app)
    assert caught.value.node == "NODE"
    saved = app.get_state(config)  # the thread keeps the state from before the node
    assert saved.status is ExecutionStatus.ERROR and "audit" not in (saved.state.model_extra or {})


def test_input_and_edits_that_would_not_load_back_are_refused_and_nothing_is_saved(saver):
    from agentflow_nb.errors import UnsaveableValueError

    app = single(lambda s: None, state_cls=AgentState, checkpointer=saver, interrupt_before=["NODE"])
    config = {"thread_id": "t"}
    with pytest.raises(UnsaveableValueError, match="`seen` is a `set`"):
        app.invoke({"messages": [Message.text_message("go")], "seen": {1, 2}}, config=config)
    assert app.get_state(config) is None
    run(app)
    before = [c.checkpoint_id for c in app.get_state_history(config)]
    with pytest.raises(UnsaveableValueError, match=r"`messages\[1\].content` holds a lone surrogate"):
        app.update_state(config, {"messages": [Message.text_message("bad \ud800")]})
    assert [c.checkpoint_id for c in app.get_state_history(config)] == before


class Refund(AgentState):
    amount: float = 0.0
    approved: bool = False


def refund_app(saver):
    graph = StateGraph(Refund)
    graph.add_node("ASSESS", lambda s: None)
    graph.add_node("PAY", lambda s: {"paid": s.approved})
    return graph.compile(checkpointer=saver, interrupt_before=["PAY"])


def test_an_edit_with_a_typo_is_an_error_with_a_did_you_mean_and_saves_nothing(saver):
    from agentflow_nb.errors import UnknownFieldError

    app = refund_app(saver)
    config = {"thread_id": "refund-42"}
    app.invoke({"amount": 30, "messages": [Message.text_message("Refund me")]}, config=config)
    before = [c.checkpoint_id for c in app.get_state_history(config)]
    with pytest.raises(UnknownFieldError, match=r"`approvd` is neither a field of `Refund` nor already in the state "
                       r"of thread `refund-42`; did you mean `approved`\? .*\"new_fields\": \[\"approvd\"\]"):
        app.update_state(config, {"approvd": True})
    with pytest.raises(UnknownFieldError, match="did you mean `approved`"):
        app.invoke({"approvd": True}, config=config)  # input on an existing thread, too
    assert [c.checkpoint_id for c in app.get_state_history(config)] == before
    result = app.invoke({}, config=config)
    assert result["state"].paid is False  # the refund was not approved by the typo


def test_new_extra_fields_come_with_the_first_input_or_on_purpose(saver):
    app = single(lambda s: None, state_cls=AgentState, checkpointer=saver, interrupt_before=["NODE"])
    config = {"thread_id": "debug-session"}
    app.invoke({"input_data": {"rows": 3}}, config=config)  # the docs' debug session: a new thread
    app.update_state(config, {"input_data": {"rows": 4}})  # an extra the thread already has
    app.update_state({**config, "new_fields": ["reviewer"]}, {"reviewer": "ana"})
    app.invoke({"note": "more"}, config={**config, "new_fields": True})
    state = app.get_state(config).state
    assert (state.input_data, state.reviewer, state.note) == ({"rows": 4}, "ana", "more")
    with pytest.raises(TypeError, match='config\\["new_fields"\\] must be a list of field names'):
        app.update_state({**config, "new_fields": "reviewer"}, {"reviewer": "bo"})


class Ticket(AgentState):
    customer: str  # required: there is no sensible default


def test_a_schema_with_a_required_field_starts_a_thread_from_the_first_input(saver):
    app = single(lambda s: f"hello {s.customer}", state_cls=Ticket, checkpointer=saver)
    result = app.invoke({"customer": "ana", "messages": [Message.text_message("hi")]}, config={"thread_id": "t"})
    assert result["state"].customer == "ana" and result["messages"][-1].content == "hello ana"
    with pytest.raises(pydantic.ValidationError, match="customer"):
        app.invoke({"messages": [Message.text_message("hi")]}, config={"thread_id": "u"})
    assert app.get_state({"thread_id": "u"}) is None


def test_a_thread_with_a_required_field_resumes_and_takes_edits_without_it(saver):
    app = single(lambda s: f"hello {s.customer}", state_cls=Ticket, checkpointer=saver, interrupt_before=["NODE"])
    config = {"thread_id": "t"}
    assert app.invoke({"customer": "ana"}, config=config)["status"] is ExecutionStatus.INTERRUPTED_BEFORE
    app.update_state(config, {"customer": "bo"})
    assert app.invoke({}, config=config)["messages"][-1].content == "hello bo"
    assert app.invoke({"messages": [Message.text_message("again")]}, config=config)["state"].customer == "bo"
    with pytest.raises(UnknownFieldError, match="did you mean `customer`"):
        app.invoke({"custmer": "cy"}, config=config)
