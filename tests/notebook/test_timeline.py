"""Reading a thread's history: diffs, row kinds, the path taken, where each checkpoint stands."""

from __future__ import annotations

from agentflow_nb import Message
from agentflow_nb.notebook.timeline import diff_states, entries, last_node_diff, path_to, position_of
from tests.notebook.apps import Address, Approval, approval_app, first_input


def test_a_diff_names_changed_fields_and_counts_added_messages():
    old = Approval(messages=[Message.text_message("a")])
    new = old.model_copy(update={"amount": 3, "messages": [*old.messages, Message.text_message("b")]})
    diff = diff_states(old, new)
    assert (diff.fields, diff.added, diff.replaced) == (("amount",), 1, False)
    assert diff.summary() == "set amount · +1 message" and diff.changed == {"amount", "messages"}
    same_model = old.model_copy(update={"address": Address()})  # an equal, new object: not a change
    assert diff_states(old, same_model).fields == ()
    rewritten = old.model_copy(update={"messages": [Message.text_message("z")]})
    assert diff_states(old, rewritten).replaced and diff_states(old, rewritten).summary() == "messages rewritten"
    assert diff_states(None, Approval(amount=4)).fields == ("amount",)  # a start: against the defaults


def test_rows_paths_and_positions_of_a_run_with_a_pause_and_a_restart():
    app = approval_app(interrupt_before=["EXECUTE"])
    config = {"thread_id": "t"}
    app.invoke(first_input(), config)
    app.invoke({}, config)
    app.invoke({"messages": [Message.text_message("again")]}, config)  # a completed thread starts over
    history = app.get_state_history(config)
    assert [e.kind for e in entries(history)] == ["paused", "ran", "restart", "ran", "ran", "paused", "ran", "start"]
    newest = history[0]
    assert newest.status.value == "interrupted_before"
    assert path_to(history, newest) == ["ANALYZE"]  # only since the restart
    position = position_of(newest, path_to(history, newest))
    assert (position.current, position.phase, position.edge) == ("EXECUTE", "before", ("ANALYZE", "EXECUTE"))
    completed = next(c for c in history if c.status.value == "completed")
    done = position_of(completed, path_to(history, completed))
    assert (done.current, done.phase, done.edge) == ("FINALIZE", "done", ("FINALIZE", "__end__"))
    assert done.visited == {"ANALYZE", "EXECUTE", "FINALIZE"}
    assert last_node_diff(history, newest)[0] == "ANALYZE"
    first = history[-1]
    assert position_of(first, path_to(history, first)).current == "__start__"
