"""The debugger UI, headless: set widget values, click buttons, check the saved thread."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from typing import Literal

import pydantic
import pytest
from pydantic import Field

from agentflow_nb import END, START, AgentState, ExecutionStatus, Message, StateGraph
from agentflow_nb.notebook import BreakpointPicker, Debugger, DebugSession, GraphView, debug
from agentflow_nb.render import Drawing

S = ExecutionStatus


class Approval(AgentState):
    amount: int = Field(0, ge=0)
    approved: bool = False
    note: str = ""
    priority: Literal["low", "high"] = "low"
    tags: list[str] = []
    reviewer: str | None = None


def approval_app(slow: float = 0.0, **compile_kwargs):
    graph = StateGraph(Approval)

    def analyze(state):
        return {"note": f"analyzed {state.amount}"}

    def execute(state):
        time.sleep(slow)
        return f"executed={state.approved} amount={state.amount} tags={state.tags}"

    graph.add_node("ANALYZE", analyze)
    graph.add_node("EXECUTE", execute)
    graph.add_node("FINALIZE", lambda s: "finalized")
    graph.add_edge(START, "ANALYZE").add_edge("ANALYZE", "EXECUTE")
    graph.add_edge("EXECUTE", "FINALIZE").add_edge("FINALIZE", END)
    compile_kwargs.setdefault("interrupt_before", ["EXECUTE"])
    return graph.compile(**compile_kwargs)


def start(app=None, **kwargs) -> Debugger:
    ui = debug(app or approval_app(), {"amount": 50, "messages": [Message.text_message("go")]}, **kwargs)
    ui.session.wait()
    return ui


def painted(ui: Debugger) -> str:
    """The CSS the static drawing would carry for the debugger's current position."""
    return re.search(r"<style>(.*?)</style>", Drawing.of(ui.session.app).styled_svg(ui.session.position), re.S).group(1)


def test_the_graph_marks_the_right_node_at_each_pause():
    ui = start(approval_app(interrupt_after=["FINALIZE"]))
    ids = ui.graph.node_ids
    assert (ui.graph.current, ui.graph.phase) == ("EXECUTE", "before")
    assert ui.graph.visited == ["ANALYZE"] and ui.graph.edge_id == ui.graph.shape.edge_id("ANALYZE", "EXECUTE")
    assert f"#{ids['EXECUTE']} path" in painted(ui) and "#fff59d" in painted(ui)
    assert ui.controls.resume.click() is None and ui.session.wait() == "paused"
    assert (ui.graph.current, ui.graph.phase) == ("FINALIZE", "after")
    assert f"#{ids['FINALIZE']} path" in painted(ui) and "#c8e6c9" in painted(ui)
    ui.controls.resume.click()
    assert ui.session.wait() == "completed" and ui.graph.phase == "done"


def test_inspector_edits_are_saved_as_an_edit_checkpoint_then_the_run_resumes():
    ui = start()
    editors = ui.inspector.editors
    assert set(editors) == {"amount", "approved", "note", "priority", "tags", "reviewer"}
    assert type(editors["amount"].input).__name__ == "IntText"
    assert type(editors["approved"].input).__name__ == "Checkbox"
    assert type(editors["priority"].input).__name__ == "Dropdown"
    assert type(editors["tags"].input).__name__ == "Textarea"  # JSON editor
    assert editors["reviewer"].optional and editors["reviewer"].none.value is True
    editors["amount"].input.value = 75
    editors["approved"].input.value = True
    editors["priority"].input.value = "high"
    editors["tags"].input.value = '["urgent", "vip"]'
    editors["reviewer"].none.value = False
    editors["reviewer"].input.value = "ana"
    ui.inspector.text.value = "approved by ana"
    ui.controls.resume.click()
    assert ui.session.wait() == "completed"
    final = ui.session.state
    assert (final.amount, final.approved, final.priority, final.tags, final.reviewer) == (
        75, True, "high", ["urgent", "vip"], "ana",
    )
    contents = [m.content for m in final.messages]
    assert "approved by ana" in contents
    assert "executed=True amount=75 tags=['urgent', 'vip']" in contents
    sources = [c.source for c in ui.session.history]
    assert sources.count("edit") == 1
    assert ui.inspector.text.value == ""


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [("amount", -5, "greater than or equal to 0"), ("tags", "[not json", "not valid JSON")],
)
def test_an_invalid_edit_shows_its_error_by_the_field_and_saves_nothing(field, value, error):
    ui = start()
    before = [c.checkpoint_id for c in ui.session.history]
    ui.inspector.editors[field].input.value = value
    ui.controls.resume.click()
    assert error in ui.inspector.errors()[field]
    assert "nothing was saved" in ui.notice.value
    assert [c.checkpoint_id for c in ui.session.history] == before
    assert ui.session.status == "paused" and not ui.session.running
    assert ui.session.state.amount == 50
    ui.inspector.editors[field].set(ui.session.state.model_dump()[field])  # put it right
    ui.controls.resume.click()
    assert ui.session.wait() == "completed" and ui.inspector.errors() == {}


def test_fields_changed_by_the_last_step_are_highlighted():
    ui = start(approval_app(interrupt_before=[], interrupt_after=["ANALYZE"]))
    assert "af_changed" in ui.inspector.editors["note"].box._dom_classes
    assert "af_changed" not in ui.inspector.editors["amount"].box._dom_classes
    assert "● changed" in ui.inspector.editors["note"].label.value
    assert ui.inspector.meta_html.value.count("interrupted_after") == 1


def test_step_pauses_after_one_node():
    ui = start()
    ui.controls.step.click()
    assert ui.session.wait() == "paused"
    assert (ui.graph.current, ui.graph.phase) == ("EXECUTE", "after")
    assert ui.session.checkpoint.status is S.INTERRUPTED_AFTER
    assert ui.session.checkpoint.state.execution_meta.interrupt_reason == "step: EXECUTE"


def test_stop_during_a_slow_node_ends_the_run_stopped():
    ui = start(approval_app(slow=1.0))
    ui.controls.resume.click()
    deadline = time.monotonic() + 5
    while ui.graph.phase != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ui.session.running and not ui.controls.stop.disabled and ui.controls.resume.disabled
    ui.controls.stop.click()
    assert ui.session.wait() == "stopped"
    assert ui.session.checkpoint.status is S.STOPPED
    assert ui.graph.phase == "stopped" and not ui.controls.resume.disabled and ui.controls.stop.disabled
    assert ui.session.state.messages[-1].content.startswith("executed=")  # the slow node's work was kept
    ui.controls.resume.click()
    assert ui.session.wait() == "completed"


def test_history_pick_shows_that_checkpoint_and_fork_from_it_runs_on_its_own():
    ui = start()
    ui.controls.resume.click()
    ui.session.wait()
    first_pause = next(c for c in ui.session.history if c.status is S.INTERRUPTED_BEFORE)
    ui.history.pick(first_pause.checkpoint_id)
    assert (ui.graph.current, ui.graph.phase) == ("EXECUTE", "before")
    assert "&quot;amount&quot;: 50" in ui.history.preview.value and not ui.history.fork.disabled
    old_thread = ui.session.thread_id
    forked = ui.fork()
    assert forked.thread_id != old_thread and ui.session is forked
    assert forked.status == "paused"
    ui.inspector.editors["amount"].input.value = 999
    ui.controls.resume.click()
    assert forked.wait() == "completed" and forked.state.amount == 999
    original = DebugSession(ui.session.app, config={"thread_id": old_thread})
    assert original.state.amount == 50 and original.status == "completed"


def test_toggling_breakpoints_by_the_graph_widget_and_by_the_fallback_picker():
    ui = start()
    ui.graph._handle_custom_msg({"event": "toggle", "node": "FINALIZE", "where": "before"}, [])  # from the browser
    assert ui.session.before.keys() == {"EXECUTE", "FINALIZE"}
    assert ui.graph.before == ["EXECUTE", "FINALIZE"]
    assert set(ui.picker.before.value) == {"EXECUTE", "FINALIZE"}
    ui.picker.after.value = ("ANALYZE",)
    assert ui.session.after.keys() == {"ANALYZE"} and ui.graph.after == ["ANALYZE"]
    ui.graph.click_node("EXECUTE")  # off again
    assert ui.session.before.keys() == {"FINALIZE"}
    ui.controls.resume.click()
    assert ui.session.wait() == "paused" and ui.graph.current == "FINALIZE"


def test_a_conditional_breakpoint_fires_only_when_its_predicate_holds():
    app = approval_app(interrupt_before=[])
    big = {"EXECUTE": lambda state: state.amount > 100}
    quiet = DebugSession(app, {"amount": 50, "messages": []}, before=big)
    assert quiet.wait() == "completed"
    loud = DebugSession(app, {"amount": 500, "messages": []}, before=big)
    assert loud.wait() == "paused" and loud.position.current == "EXECUTE"


def test_the_session_is_scriptable_and_awaitable():
    session = DebugSession(approval_app(), {"amount": 5, "messages": []})
    assert session.wait() == "paused"
    with pytest.raises(pydantic.ValidationError):
        session.resume(edits={"amount": -1})
    assert session.state.amount == 5

    async def go():
        return await session.resume(edits={"amount": 6}, message=("user", "ok"))

    assert asyncio.run(go()) == "completed"
    assert session.state.amount == 6 and session.state.messages[-3].content == "ok"
    with pytest.raises(ValueError, match="`where` is `before` or `after`"):
        session.toggle_breakpoint("EXECUTE", "during")


def test_the_kernel_thread_is_never_blocked_by_a_run():
    ui = debug(approval_app(slow=0.5, interrupt_before=[]), {"messages": []})
    started = time.monotonic()
    assert ui.session.running  # debug() returned while the graph runs in the background
    assert time.monotonic() - started < 0.4
    assert threading.current_thread() is threading.main_thread()
    assert ui.session.wait() == "completed"


def test_a_long_conversation_is_paged():
    ui = debug(approval_app(), {"messages": [Message.text_message(f"m{i}") for i in range(1000)]})
    ui.session.wait()
    assert ui.inspector.messages_html.value.count("af_msg") == 20
    assert ui.inspector.page_label.value == "981–1000 of 1000"
    ui.inspector.prev_page.click()
    assert "m960" in ui.inspector.messages_html.value


def test_graph_view_and_picker_stand_alone():
    app = approval_app()
    view = GraphView(app.draw())
    clicks = []
    view.on_node_click(lambda node, where: clicks.append((node, where)))
    view.click_node("ANALYZE", "after")
    view._handle_custom_msg({"event": "toggle", "node": "__start__"}, [])  # not a node: ignored
    assert clicks == [("ANALYZE", "after")]
    picker = BreakpointPicker(list(app.nodes))
    seen = []
    picker.on_change(lambda b, a: seen.append((b, a)))
    picker.show({"EXECUTE"}, set())
    assert seen == []  # showing does not echo
    picker.before.value = ("ANALYZE",)
    assert seen == [({"ANALYZE"}, set())]


def test_resuming_from_a_pause_after_a_node_highlights_the_edge_out_of_it():
    ui = start(approval_app(interrupt_after=["ANALYZE"]))
    assert (ui.graph.current, ui.graph.phase) == ("ANALYZE", "after")
    ui.controls.resume.click()
    assert ui.session.wait() == "paused" and (ui.graph.current, ui.graph.phase) == ("EXECUTE", "before")
    assert ui.graph.edge_id == ui.graph.shape.edge_id("ANALYZE", "EXECUTE")
    assert "paused</span> before <b>EXECUTE</b>" in ui.controls.status.value
