"""The debugger UI, headless: set widget values, click buttons, check the saved thread."""

from __future__ import annotations

import asyncio
import threading

import pydantic
import pytest

from agentflow_nb import ExecutionStatus, Message
from agentflow_nb.notebook import BreakpointPicker, Debugger, DebugSession, GraphView, SessionStatus, debug
from agentflow_nb.render import Drawing
from tests.notebook.apps import approval_app, first_input, wait_for

S = ExecutionStatus
St = SessionStatus

__all__ = ["approval_app", "start"]


def start(app=None, **kwargs) -> Debugger:
    ui = debug(app or approval_app(), first_input(), **kwargs)
    ui.session.wait()
    return ui


def marks(ui: Debugger, node: str) -> set[str]:
    return set(ui.graph.marks.get(ui.graph.node_ids[node], "").split())


def test_the_graph_marks_the_right_node_at_each_pause():
    ui = start(approval_app(interrupt_after=["FINALIZE"]))
    assert (ui.graph.current, ui.graph.phase) == ("EXECUTE", "before")
    assert marks(ui, "EXECUTE") == {"af_before", "af_bp_before"} and marks(ui, "ANALYZE") == {"af_path"}
    assert ui.graph.edge_id == ui.graph.shape.edge_id("ANALYZE", "EXECUTE")
    assert ui.graph.focus == ui.graph.node_ids["EXECUTE"]  # the view centres it
    static = Drawing.of(ui.session.app).marked_svg(ui.session.position)  # the same classes, written in
    assert f'<g id="{ui.graph.node_ids["EXECUTE"]}" class="af_before af_bp_before node' in static
    assert ui.resume() and ui.session.wait() == St.PAUSED
    assert (ui.graph.current, ui.graph.phase) == ("FINALIZE", "after")
    assert "af_after" in marks(ui, "FINALIZE") and marks(ui, "EXECUTE") >= {"af_path", "af_bp_before"}
    assert ui.resume() and ui.session.wait() == St.COMPLETED
    assert ui.graph.phase == "done" and ui.graph.edge_id == ui.graph.shape.edge_id("FINALIZE", "__end__")


def test_edits_of_every_field_type_are_saved_as_one_edit_checkpoint_then_the_run_resumes():
    ui = start()
    editors = ui.inspector.editors
    kinds = {name: editor.kind for name, editor in editors.items()}
    assert kinds == {"amount": "number", "rate": "number", "approved": "bool", "note": "str", "priority": "choice",
                     "tags": "json", "extra": "json", "address": "json", "reviewer": "str", "limit": "number"}
    assert editors["reviewer"].optional and editors["reviewer"].none.value is True
    assert editors["reviewer"].input.disabled
    editors["amount"].input.value = "75"
    editors["rate"].input.value = "0.5"
    editors["approved"].input.value = True
    editors["priority"].input.value = "high"
    editors["tags"].input.value = '["urgent", "vip"]'
    editors["extra"].input.value = '{"retries": 2}'
    editors["address"].input.value = '{"city": "Paris", "zip": "75001"}'
    editors["reviewer"].none.value = False
    editors["reviewer"].input.value = "ana"
    editors["limit"].none.value = False
    editors["limit"].input.value = "9"
    ui.inspector.text.value = "approved by ana"
    ui.controls.resume.click()
    assert ui.session.wait() == St.COMPLETED
    final = ui.session.state
    assert (final.amount, final.rate, final.approved, final.priority, final.tags, final.extra, final.address.city,
            final.reviewer, final.limit) == (75, 0.5, True, "high", ["urgent", "vip"], {"retries": 2}, "Paris", "ana", 9)
    contents = [m.content for m in final.messages]
    assert "approved by ana" in contents and "executed=True amount=75 tags=['urgent', 'vip']" in contents
    assert [c.source for c in ui.session.history].count("edit") == 1
    assert ui.inspector.text.value == ""


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("amount", "-5", "greater than or equal to 0"),
        ("amount", "abc", "unable to parse string as an integer"),
        ("amount", "1.5", "valid integer"),
        ("amount", "", "empty: enter a number"),
        ("rate", "fast", "unable to parse string as a number"),
        ("tags", "[not json", "not valid JSON"),
        ("tags", "[1, 2]", "valid string (at 0)"),
        ("extra", '{"retries": "many"}', "valid integer"),
        ("address", '{"city": 5}', "valid string (at city)"),
        ("address", "", "empty: enter a JSON value"),
    ],
)
def test_an_invalid_edit_shows_its_error_by_the_field_and_saves_nothing(field, value, error):
    ui = start()
    saved = [c.checkpoint_id for c in ui.session.history]
    ui.inspector.editors[field].input.value = value
    ui.controls.resume.click()
    assert error in ui.inspector.errors()[field]
    assert "nothing was saved" in ui.notice and "af_invalid" in ui.inspector.editors[field].box._dom_classes
    assert [c.checkpoint_id for c in ui.session.history] == saved
    assert ui.session.status == St.PAUSED and not ui.session.running and ui.session.state.amount == 50
    ui.inspector.editors[field].reset()  # put it right: the error goes, the run goes on
    ui.controls.resume.click()
    assert ui.session.wait() == St.COMPLETED and ui.inspector.errors() == {}


def test_syntax_type_and_constraint_errors_all_show_in_one_pass():
    ui = start()
    editors = ui.inspector.editors
    editors["tags"].input.value = "[oops"
    editors["amount"].input.value = "-1"
    editors["extra"].input.value = '{"a": "b"}'
    editors["limit"].none.value = False  # unticking None on an empty number is an error, not a stale value
    assert not ui.resume()
    assert set(ui.inspector.errors()) == {"tags", "amount", "extra", "limit"}
    assert "empty: enter a number (or tick None)" in ui.inspector.errors()["limit"]


def test_an_edit_only_the_whole_schema_refuses_shows_its_error_and_saves_nothing():
    from tests.notebook.apps import bounded_app

    ui = debug(bounded_app(), {"low": 1, "messages": []})
    ui.session.wait()
    ui.inspector.editors["low"].input.value = "50"  # fine alone; the model validator refuses it
    assert not ui.resume()
    assert "low must not exceed high" in ui.inspector.general_error.value
    assert "does not fit the state's schema (Value error, low must not exceed high)" in ui.notice
    assert ui.session.state.low == 1


def test_changed_marks_come_from_what_the_last_node_did():
    ui = start()  # ANALYZE set note and tags, then the run paused before EXECUTE (a later checkpoint)
    changed = {n: e.changed_by for n, e in ui.inspector.editors.items() if e.changed_by}
    assert changed == {"note": "ANALYZE", "tags": "ANALYZE"}  # the list it changed; not the untouched model
    assert "af_changed" in ui.inspector.editors["tags"].box._dom_classes
    assert "changed by ANALYZE" in ui.inspector.editors["note"].label.value
    ui.step()
    assert ui.session.wait() == St.PAUSED
    assert {n for n, e in ui.inspector.editors.items() if e.changed_by} == set()  # EXECUTE only added a message
    assert "1 new from EXECUTE" in ui.inspector.messages_html.value


def test_stale_values_never_leak_across_checkpoints():
    ui = start()
    reviewer = ui.inspector.editors["reviewer"]
    ui.session.app.update_state(ui.session.config, {"reviewer": "bob"})
    ui.session.refresh()
    ui._show_saved()
    assert reviewer.input.value == "bob" and not reviewer.none.value
    ui.session.app.update_state(ui.session.config, {"reviewer": None})
    ui.session.refresh()
    ui._show_saved()
    assert reviewer.none.value and reviewer.input.value == "" and reviewer.input.disabled
    reviewer.none.value = False  # unticking shows what would be saved: an empty text, not "bob"
    assert reviewer.parse() == ""
    bob_step = next(c for c in ui.session.latest_history if c.state.reviewer == "bob")
    ui.history.pick(bob_step.checkpoint_id)
    assert reviewer.input.value == "bob" and not reviewer.dirty  # the preview drops the pending edit
    ui.back_to_live()
    assert reviewer.none.value and reviewer.input.value == ""


def test_edited_marks_and_revert():
    ui = start()
    amount = ui.inspector.editors["amount"]
    assert not amount.dirty and ui.inspector.revert_all.disabled
    amount.input.value = "60"
    assert amount.dirty and "✎ edited" in amount.label.value and amount.revert.layout.display == ""
    assert ui.inspector.dirty == ["amount"] and not ui.inspector.revert_all.disabled
    amount.revert.click()
    assert amount.input.value == "50" and not amount.dirty and amount.revert.layout.display == "none"
    ui.inspector.editors["note"].input.value = "x"
    ui.inspector.revert_all.click()
    assert ui.inspector.dirty == []


def test_step_pauses_after_one_node():
    ui = start()
    ui.controls.step.click()
    assert ui.session.wait() == St.PAUSED
    assert (ui.graph.current, ui.graph.phase) == ("EXECUTE", "after")
    assert ui.session.checkpoint.state.execution_meta.interrupt_reason == "step: EXECUTE"


def test_stop_during_a_slow_node_says_stopping_then_stopped():
    gate = threading.Event()
    ui = start(approval_app(gate=gate))
    ui.controls.resume.click()
    wait_for(lambda: (ui.graph.current, ui.graph.phase) == ("EXECUTE", "running"), what="EXECUTE running")
    assert ui.session.running and not ui.controls.stop.disabled and ui.controls.resume.disabled
    assert "is running" in ui.controls.resume.tooltip  # why Resume does not apply
    ui.controls.stop.click()
    assert ui.session.status == St.STOPPING and ui.graph.phase == "stopping"
    assert "waiting for <b>EXECUTE</b>" in ui.controls.status.value
    assert ui.controls.stop.disabled and "already stopping" in ui.controls.stop.tooltip
    gate.set()
    assert ui.session.wait() == St.STOPPED
    assert ui.session.checkpoint.status is S.STOPPED and ui.graph.phase == "stopped"
    assert not ui.controls.resume.disabled and ui.controls.stop.disabled
    assert ui.session.state.messages[-1].content.startswith("executed=")  # the node's work was kept
    ui.controls.resume.click()
    assert ui.session.wait() == St.COMPLETED


def test_picking_a_step_moves_the_whole_ui_and_resuming_returns_it_to_live():
    ui = start(approval_app(interrupt_after=["ANALYZE"], interrupt_before=[]))
    ui.inspector.editors["amount"].input.value = "70"
    assert ui.resume() and ui.session.wait() == St.COMPLETED
    rows = {e.checkpoint.checkpoint_id: e for e in ui.history._entries.values()}
    edit = next(e for e in rows.values() if e.kind == "edit")
    ui.history.pick(edit.checkpoint.checkpoint_id)
    assert (ui.graph.current, ui.graph.phase) == ("ANALYZE", "after")  # the graph is at that step
    assert set(ui.graph.visited) == {"ANALYZE"} and ui.inspector.readonly
    assert ui.inspector.editors["amount"].input.value == "70" and ui.inspector.editors["amount"].changed_by == "your edit"
    assert "Viewing step 1" in ui.inspector.banner.value and "set amount" in ui.inspector.banner.value
    assert ui.inspector.back.layout.display == ""
    start_row = next(e for e in rows.values() if e.kind == "start")
    ui.history.pick(start_row.checkpoint.checkpoint_id)
    assert ui.graph.current == "__start__" and ui.graph.marks[ui.graph.node_ids["__start__"]] == "af_after"
    ui.back_to_live()
    assert (ui.graph.current, ui.graph.phase) == ("FINALIZE", "done") and ui.inspector.banner.value.count("Completed")


def test_resume_after_a_preview_leaves_the_graph_live():
    ui = start(approval_app(interrupt_after=["FINALIZE"]))
    older = ui.session.latest_history[-1]
    ui.history.pick(older.checkpoint_id)
    assert not ui.resume() and "go back to live first" in ui.notice
    ui._key("live")  # Esc
    assert ui.history.picked is None and ui.resume() and ui.session.wait() == St.PAUSED
    assert (ui.graph.current, ui.graph.phase) == ("FINALIZE", "after")
    assert set(ui.graph.visited) == {"ANALYZE", "EXECUTE", "FINALIZE"}  # the whole path taken stays tinted


def test_history_rows_say_node_status_source_and_what_changed():
    ui = start()
    ui.inspector.editors["note"].input.value = "checked"
    ui.inspector.text.value = "go on"
    assert ui.resume() and ui.session.wait() == St.COMPLETED
    labels = [e.label for e in ui.history._entries.values()]
    assert labels == [
        "step 3 · run · FINALIZE ran, completed · +1 message",
        "step 2 · run · EXECUTE ran · +1 message",
        "step 1 · run · input on resume · +1 message",
        "step 1 · edit · edited at paused before EXECUTE · set note",
        "step 1 · run · paused before EXECUTE",
        "step 1 · run · ANALYZE ran · set note, tags",
        "step 0 · run · start (input) · set amount · +1 message",
    ]
    assert len(set(labels)) == len(labels)


def test_fork_from_a_step_runs_on_its_own_thread_and_the_switcher_goes_back():
    ui = start()
    ui.resume()
    ui.session.wait()
    first_pause = next(c for c in ui.session.history if c.status is S.INTERRUPTED_BEFORE)
    ui.history.pick(first_pause.checkpoint_id)
    original = ui.session.thread_id
    forked = ui.fork()
    assert forked.thread_id != original and ui.session is forked and forked.status == St.PAUSED
    assert ui.history.threads.options == (original, forked.thread_id) and ui.history.threads.layout.display == ""
    ui.inspector.editors["amount"].input.value = "999"
    ui.controls.resume.click()
    assert forked.wait() == St.COMPLETED and forked.state.amount == 999
    ui.history.threads.value = original
    assert ui.session.thread_id == original and ui.session.state.amount == 50
    assert ui.inspector.editors["amount"].input.value == "50"


def test_toggling_breakpoints_by_the_graph_widget_and_by_the_fallback_picker():
    ui = start()
    ui.graph._handle_custom_msg({"event": "toggle", "node": "FINALIZE", "where": "before"}, [])  # from the page
    assert ui.session.before.keys() == {"EXECUTE", "FINALIZE"} and ui.graph.before == ["EXECUTE", "FINALIZE"]
    assert set(ui.picker.before.value) == {"EXECUTE", "FINALIZE"} and "af_bp_before" in marks(ui, "FINALIZE")
    ui.picker.after.value = ("ANALYZE",)
    assert ui.session.after.keys() == {"ANALYZE"} and ui.graph.after == ["ANALYZE"]
    ui.graph.click_node("EXECUTE")  # off again
    assert ui.session.before.keys() == {"FINALIZE"} and "off" in ui.notice
    ui.controls.resume.click()
    assert ui.session.wait() == St.PAUSED and ui.graph.current == "FINALIZE"


def test_run_to_here_from_the_graph_menu_and_from_the_picker():
    ui = start(approval_app(interrupt_before=[], interrupt_after=["ANALYZE"]))
    ui.graph._handle_custom_msg({"event": "run_to", "node": "FINALIZE"}, [])  # "Run to here" on FINALIZE
    assert ui.session.wait() == St.PAUSED and (ui.graph.current, ui.graph.phase) == ("FINALIZE", "before")
    assert "FINALIZE" not in ui.session.before  # a one-off: no breakpoint left behind
    fresh = start(approval_app(interrupt_before=[], interrupt_after=["ANALYZE"]))
    fresh.picker.target.value = "EXECUTE"
    fresh.picker.run_to.click()
    assert fresh.session.wait() == St.PAUSED and fresh.graph.current == "EXECUTE"


def test_a_conditional_breakpoint_fires_only_when_its_predicate_holds():
    app = approval_app(interrupt_before=[])
    big = {"EXECUTE": lambda state: state.amount > 100}
    quiet = DebugSession(app, {"amount": 50, "messages": []}, before=big)
    assert quiet.wait() == St.COMPLETED
    loud = DebugSession(app, {"amount": 500, "messages": []}, before=big)
    assert loud.wait() == St.PAUSED and loud.position.current == "EXECUTE"


def test_the_session_is_scriptable_and_awaitable():
    session = DebugSession(approval_app(), {"amount": 5, "messages": []})
    assert session.wait() == "paused"
    with pytest.raises(pydantic.ValidationError):
        session.resume(edits={"amount": -1})
    assert session.state.amount == 5

    async def go():
        return await session.resume(edits={"amount": 6}, message=("user", "ok"))

    assert asyncio.run(go()) == St.COMPLETED
    assert session.state.amount == 6 and session.state.messages[-3].content == "ok"
    with pytest.raises(ValueError, match="`where` is `before` or `after`"):
        session.toggle_breakpoint("EXECUTE", "during")
    with pytest.raises(RuntimeError, match="completed: nothing is left to run"):
        session.resume()


def test_debug_returns_while_the_first_node_still_runs():
    gate = threading.Event()
    ui = debug(approval_app(gate=gate, interrupt_before=[]), first_input())
    # The node waits for this test to open the gate: had debug() waited for the run, the node
    # would have timed out (and failed the run) before the line below could open it.
    wait_for(lambda: (ui.graph.current, ui.graph.phase) == ("EXECUTE", "running"), what="EXECUTE running")
    assert ui.session.running and ui.graph.current == "EXECUTE"
    gate.set()
    assert ui.session.wait() == St.COMPLETED and ui.session.error is None


def test_the_known_state_shows_read_only_while_the_first_run_goes():
    gate = threading.Event()
    ui = debug(approval_app(gate=gate, interrupt_before=[]), first_input(amount=42))
    try:
        wait_for(lambda: "amount" in ui.inspector.editors and ui.inspector.editors["amount"].input.value == "42",
                 what="the saved input in the inspector")
        assert ui.inspector.readonly and ui.inspector.editors["amount"].input.disabled
        assert "Running" in ui.inspector.banner.value and "read-only" in ui.inspector.banner.value
    finally:
        gate.set()
    assert ui.session.wait() == St.COMPLETED and "Completed" in ui.inspector.banner.value


def test_a_long_conversation_is_paged():
    ui = debug(approval_app(), {"messages": [Message.text_message(f"m{i}") for i in range(1000)]})
    ui.session.wait()
    assert ui.inspector.messages_html.value.count("<b>user</b>") == 20
    assert ui.inspector.page_label.value == "981–1000 of 1000"
    ui.inspector.prev_page.click()
    assert "m960" in ui.inspector.messages_html.value


def test_graph_view_and_picker_stand_alone():
    app = approval_app()
    view = GraphView(app.draw())
    clicks, keys = [], []
    view.on_node_click(lambda node, where: clicks.append((node, where)))
    view.on_key(keys.append)
    view.click_node("ANALYZE", "after")
    view._handle_custom_msg({"event": "toggle", "node": "__start__"}, [])  # not a node: ignored
    view._handle_custom_msg({"event": "key", "action": "rm -rf"}, [])  # not an action: ignored
    view._handle_custom_msg({"event": "key", "action": "step"}, [])
    assert clicks == [("ANALYZE", "after")] and keys == ["step"]
    picker = BreakpointPicker(list(app.nodes))
    seen = []
    picker.on_change(lambda b, a: seen.append((b, a)))
    picker.show({"EXECUTE"}, set())
    assert seen == []  # showing does not echo
    picker.before.value = ("ANALYZE",)
    assert seen == [({"ANALYZE"}, set())]


def test_keyboard_shortcuts_resume_step_and_stop():
    gate = threading.Event()
    ui = start(approval_app(gate=gate, interrupt_after=["FINALIZE"]))
    ui.graph._handle_custom_msg({"event": "key", "action": "resume"}, [])
    wait_for(lambda: (ui.graph.current, ui.graph.phase) == ("EXECUTE", "running"), what="EXECUTE running")
    ui.graph._handle_custom_msg({"event": "key", "action": "stop"}, [])
    assert ui.session.status == St.STOPPING
    gate.set()
    assert ui.session.wait() == St.STOPPED
    ui.graph._handle_custom_msg({"event": "key", "action": "step"}, [])
    assert ui.session.wait() == St.PAUSED and (ui.graph.current, ui.graph.phase) == ("FINALIZE", "after")


def test_buttons_apply_only_where_they_can_and_say_why_not():
    ui = start(approval_app(interrupt_before=[]))
    assert ui.session.status == St.COMPLETED
    assert ui.controls.resume.disabled and ui.controls.step.disabled and ui.controls.stop.disabled
    assert "completed: nothing is left to run" in ui.controls.resume.tooltip
    assert ui.controls.stop.tooltip == "nothing is running"
    events = len(ui.session.events)
    assert not ui.resume() and "completed" in ui.notice and len(ui.session.events) == events
    assert ui.stop()["status"] == "not_running"


def test_the_event_log_keeps_the_newest_last_and_filters_by_kind():
    ui = start()
    html = ui.events.lines.value
    assert html.index("ANALYZE started") < html.index("paused before `EXECUTE`")
    assert 'class="af_log"' in html  # laid out bottom-up, so the newest line stays in view
    ui.events.filter.value = "pauses & ends"
    assert "paused before" in ui.events.lines.value and "ANALYZE started" not in ui.events.lines.value
    ui.events.filter.value = "nodes"
    assert "ANALYZE started" in ui.events.lines.value and "paused before" not in ui.events.lines.value


def test_copy_as_code_gives_an_update_state_call_that_does_the_edits():
    ui = start()
    sent = []
    ui.graph.send = sent.append
    ui.inspector.editors["amount"].input.value = "80"
    ui.inspector.editors["address"].input.value = '{"city": "Nice", "zip": "06000"}'
    code = ui.copy_as_code()
    assert sent == [{"event": "insert_cell", "code": code}]
    assert "app.update_state({'thread_id': '" in code and "'amount': 80" in code
    app = ui.session.app
    exec(code, {"app": app})  # noqa: S102 - the generated code, run as the user would
    assert (ui.session.state.amount, ui.session.state.address.city) == (80, "Nice")
    ui.inspector.revert()
    shown = ui.code()  # no edits: the shown state
    assert "# the state at step 1" in shown and "'note': 'analyzed 50'" in shown
    ui.graph._handle_custom_msg({"event": "inserted", "how": "cell"}, [])
    assert ui.notice == "Code put in a new cell below."
    ui.inspector.editors["amount"].input.value = "x"
    assert ui.copy_as_code() is None and "not valid yet" in ui.notice


def test_empty_input_on_a_new_thread_starts_from_the_defaults():
    ui = debug(approval_app(), {})
    assert ui.session.wait() == St.PAUSED and ui.session.state.amount == 0
    again = debug(ui.session.app, {}, config={"thread_id": ui.session.thread_id})  # {} resumes a saved one
    assert again.session.wait() == St.COMPLETED


def test_empty_input_when_the_state_needs_a_field_says_which_and_leaves_a_consistent_ui():
    from tests.notebook.apps import needs_app

    ui = debug(needs_app(), {})
    assert ui.session.wait() == St.NEW and ui.session.latest is None
    assert "needs `customer`, which have no default" in str(ui.session.error)
    assert ui.controls.resume.disabled and ui.controls.step.disabled and ui.controls.stop.disabled
    assert "nothing saved yet" in ui.controls.resume.tooltip and "ValueError" in ui.controls.status.value


def test_resuming_from_a_pause_after_a_node_highlights_the_edge_out_of_it():
    ui = start(approval_app(interrupt_after=["ANALYZE"]))
    assert (ui.graph.current, ui.graph.phase) == ("ANALYZE", "after")
    ui.controls.resume.click()
    assert ui.session.wait() == St.PAUSED and (ui.graph.current, ui.graph.phase) == ("EXECUTE", "before")
    assert ui.graph.edge_id == ui.graph.shape.edge_id("ANALYZE", "EXECUTE")
    assert "paused</span> before <b>EXECUTE</b>" in ui.controls.status.value
