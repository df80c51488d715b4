"""The debugger on nested graphs, headless: Step into / over / out, the call stack and edits by
frame, clusters that open and close, breakpoints on nodes inside, history and time travel by path."""

from __future__ import annotations

import pydantic
import pytest

from agentflow_nb import Message
from agentflow_nb.notebook import Debugger, SessionStatus, debug
from agentflow_nb.notebook.timeline import entries
from agentflow_nb.render import dot as dot_module
from tests.notebook.apps import approval_app, first_input, nested_app

St = SessionStatus


def start(app=None, **kwargs) -> Debugger:
    ui = debug(app or nested_app(interrupt_before=["WRITER"]), {"messages": [Message.text_message("go")]}, **kwargs)
    assert ui.session.wait() == St.PAUSED
    return ui


def at(ui: Debugger) -> tuple[str, str]:
    assert ui.session.wait() == St.PAUSED, ui.session.error
    return ui.graph.current, ui.graph.phase


def classes(ui: Debugger, name: str) -> set[str]:
    return set(ui.graph.marks.get(ui.graph.node_ids[name], "").split())


def values(ui: Debugger) -> dict[str, object]:
    return {name: editor.input.value for name, editor in ui.inspector.editors.items()}


def test_step_into_over_and_out_with_the_buttons_at_two_levels_of_nesting():
    ui = start()
    assert at(ui) == ("WRITER", "before")
    ui.controls.step_into.click()
    assert at(ui) == ("WRITER/DRAFT", "before")
    ui.controls.step.click()  # Step over
    assert at(ui) == ("WRITER/DRAFT", "after")
    ui.controls.step.click()  # over the CRITIC subgraph: it runs whole
    assert at(ui) == ("WRITER/CRITIC", "after")
    assert [c.node for c in ui.session.history[:2]] == ["WRITER/CRITIC", "WRITER/CRITIC/SCORE"]
    ui.controls.step_out.click()  # out of WRITER: stops at its own approval first
    assert at(ui) == ("WRITER/REVIEW", "before")
    ui.controls.step_out.click()
    assert at(ui) == ("WRITER", "after")
    assert ui.session.frames == ()
    assert ui.session.state.draft == "about owls"  # passed out to the parent
    ui.controls.resume.click()
    assert ui.session.wait() == St.COMPLETED


def test_step_into_goes_down_one_level_per_click_and_out_up_one():
    ui = start(nested_app(interrupt_before=["WRITER/CRITIC"]))
    assert at(ui) == ("WRITER/CRITIC", "before") and ui.session.frames == ("WRITER",)
    assert ui.step_into() and at(ui) == ("WRITER/CRITIC/SCORE", "before")
    assert ui.session.frames == ("WRITER", "WRITER/CRITIC")
    assert ui.step_out() and at(ui) == ("WRITER/CRITIC", "after")
    assert ui.session.frames == ("WRITER",)


def test_buttons_are_disabled_where_they_cannot_apply_and_say_why():
    ui = start()
    out = ui.controls.step_out
    assert out.disabled and "not inside a subgraph, so there is nothing to step out of" in out.tooltip
    assert not ui.controls.step_into.disabled and "pause before its first node" in ui.controls.step_into.tooltip
    assert not ui.step_out()  # from code: refused, said, nothing run or saved
    assert "Not stepped:" in ui.notice and "nothing to step out of" in ui.notice
    assert ui.session.status == St.PAUSED and ui.session.history[0].node == "WRITER"
    ui.step_into()
    at(ui)
    assert not out.disabled and "Finish the subgraph" in out.tooltip
    # the status line, cut short by the three step buttons on a narrow screen, is whole on hover
    assert 'title="paused before WRITER/DRAFT · thread ' in ui.controls.status.value
    ui.controls.resume.click()
    ui.session.wait()
    ui.controls.resume.click()
    assert ui.session.wait() == St.COMPLETED
    for button in (ui.controls.step, ui.controls.step_into, out):
        assert button.disabled and "completed: nothing is left to run" in button.tooltip


def test_a_flat_graph_keeps_one_step_button():
    ui = debug(approval_app(), first_input())
    ui.session.wait()
    row = ui.controls.children[0].children
    assert ui.controls.step in row and ui.controls.step.description == "Step"
    assert ui.controls.step_into not in row and ui.controls.step_out not in row
    assert not ui.step_into() and "no subgraph to step into" in ui.notice


def test_keys_step_into_and_out():
    ui = start()
    ui.graph._on_front_end_msg(ui.graph, {"event": "key", "action": "into"}, [])
    assert at(ui) == ("WRITER/DRAFT", "before")
    ui.graph._on_front_end_msg(ui.graph, {"event": "key", "action": "out"}, [])
    assert at(ui) == ("WRITER/REVIEW", "before")  # the writer's own break comes first


def test_the_inspector_shows_a_call_stack_and_each_frame_s_state():
    ui = start(nested_app(interrupt_before=["WRITER/CRITIC/SCORE"]))
    assert at(ui) == ("WRITER/CRITIC/SCORE", "before")
    stack = ui.inspector.stack
    assert [label for label, _ in stack.options] == [
        "WRITER/CRITIC · at SCORE · Draft", "WRITER · at CRITIC · Draft", "app · at WRITER · Story"]
    assert ui.inspector.stack_box.layout.display == "" and ui.inspector.frame == "WRITER/CRITIC"
    assert values(ui)["words"] == "2"  # the innermost frame: the critic's state
    stack.value = ""  # one level up, to the top: the supervisor's state, which has no `words`
    assert "words" not in ui.inspector.editors and values(ui)["draft"] == ""
    assert ui.inspector.editors["topic"].changed_by is None
    stack.value = "WRITER"
    assert values(ui)["draft"] == "about owls" and ui.inspector.editors["draft"].changed_by == "WRITER/DRAFT"
    ui.step()  # a new pause shows the innermost frame again
    assert at(ui) == ("WRITER/CRITIC/SCORE", "after")
    assert ui.inspector.frame == "WRITER/CRITIC" and values(ui)["words"] == "3"
    assert ui.inspector.editors["words"].changed_by == "WRITER/CRITIC/SCORE"


def test_an_edit_goes_to_the_frame_shown_validated_by_its_schema():
    ui = start(nested_app())
    assert at(ui) == ("WRITER/REVIEW", "before") and ui.inspector.frame == "WRITER"
    ui.inspector.editors["words"].input.value = "-3"  # the writer's schema: ge=0
    assert not ui.resume()
    assert "greater than or equal to 0" in ui.inspector.errors()["words"]
    assert [c.source for c in ui.session.history].count("edit") == 0  # nothing saved
    assert ui.inspector.stack.disabled  # edits belong to this frame: the stack waits
    ui.inspector.editors["words"].input.value = "7"
    ui.inspector.editors["approved"].input.value = True
    assert ui.step_out() and at(ui) == ("WRITER", "after")
    edit = next(c for c in ui.session.history if c.source == "edit")
    assert edit.state_at("WRITER").approved is True and edit.state.approved is False  # the frame's, not the top's
    assert ui.session.state.approved is True  # passed out when the writer ended
    assert "review: approved=True" in [m.content for m in ui.session.state.messages]


def test_an_edit_to_the_parent_frame_while_paused_inside():
    ui = start(nested_app())
    at(ui)
    ui.inspector.stack.value = ""
    ui.inspector.editors["topic"].input.value = "herons"
    assert ui.resume() and ui.session.wait() == St.COMPLETED
    edit = next(c for c in ui.session.history if c.source == "edit")
    assert edit.state.topic == "herons" and edit.state_at("WRITER").topic == "owls"


def test_copy_as_code_names_the_frame():
    ui = start(nested_app())
    at(ui)
    ui.inspector.editors["draft"].input.value = "better"
    code = ui.code()
    assert "app.update_state({'thread_id'" in code and code.endswith("}, subgraph='WRITER')")
    assert "'draft': 'better'" in code and "edits from the debugger in WRITER" in code


def test_clicking_a_node_inside_a_subgraph_sets_a_breakpoint_by_path():
    ui = start()
    ui.graph.click_node("WRITER/CRITIC/SCORE")
    assert "WRITER/CRITIC/SCORE" in ui.session.before and "WRITER/CRITIC/SCORE" in ui.picker.before.value
    assert "Breakpoint before WRITER/CRITIC/SCORE on" in ui.notice
    assert "af_bp_before" in classes(ui, "WRITER/CRITIC/SCORE")
    ui.graph.click_node("WRITER/DRAFT", "after")
    ui.graph.click_node("WRITER/NOPE")  # not a node: ignored
    ui.graph.click_node("WRITER/__start__")
    assert set(ui.session.after) == {"WRITER/DRAFT"}
    ui.resume()
    assert at(ui) == ("WRITER/DRAFT", "after")
    ui.resume()
    assert at(ui) == ("WRITER/CRITIC/SCORE", "before")


def test_subgraphs_open_and_close_with_dot_run_once_per_shape(monkeypatch):
    runs = []
    real = dot_module.subprocess.run
    monkeypatch.setattr(dot_module.subprocess, "run", lambda *a, **k: runs.append(a) or real(*a, **k))
    dot_module._svg.cache_clear()
    ui = start(expand=False)
    shape = ui.graph.shape
    assert shape.expanded == frozenset() and ui.graph.subgraphs == {"WRITER": {"id": shape.node_id("WRITER"),
                                                                              "open": False}}
    assert "WRITER/DRAFT" not in ui.graph.node_ids
    ui.graph.click_fold("WRITER")
    assert ui.graph.expanded == {"WRITER"} and "WRITER/DRAFT" in ui.graph.node_ids
    assert ui.graph.subgraphs["WRITER"]["open"] and not ui.graph.subgraphs["WRITER/CRITIC"]["open"]
    assert 'class="cluster af_cluster' in ui.graph.svg
    ui.graph.click_fold("WRITER")
    ui.graph.click_fold("WRITER")
    ui.collapse("WRITER")
    ui.expand("WRITER")
    assert len(runs) == 2  # two shapes, each laid out once
    with pytest.raises(Exception, match="`PLAN`.*not a subgraph node"):
        ui.expand("PLAN")


def test_a_closed_subgraph_shows_the_position_inside_it_and_a_pause_inside_opens_it():
    ui = start(nested_app(interrupt_before=["WRITER/CRITIC/SCORE"]), expand=False)
    at(ui)
    assert ui.graph.expanded == {"WRITER", "WRITER/CRITIC"}  # the pause inside opened them
    assert ui.graph.focus == ui.graph.node_ids["WRITER/CRITIC/SCORE"]
    assert "af_frame" in classes(ui, "WRITER") and "af_frame" in classes(ui, "WRITER/CRITIC")
    ui.collapse("WRITER")  # closed by hand: it stays closed, and its node shows where the run is
    assert classes(ui, "WRITER") >= {"af_before", "af_bp_inside"}
    assert ui.graph.focus == ui.graph.node_ids["WRITER"]
    ui.step()
    at(ui)
    assert "WRITER" not in ui.graph.expanded and "af_after" in classes(ui, "WRITER")
    static = ui.fallback()["text/html"]
    assert "subgraph (closed)" in static and "breaks inside" in static  # the legend covers clusters
    assert "<b>inside WRITER/CRITIC</b>" in static and "words" in static  # each frame's state


def test_history_rows_show_paths_and_what_each_level_changed():
    ui = start(nested_app())
    at(ui)
    labels = [e.label for e in entries(ui.session.latest_history)]
    assert labels[:3] == [
        "step 4 · run · paused before WRITER/REVIEW",
        "step 4 · run · WRITER/CRITIC ran · WRITER: set words",  # the subgraph node ended
        "step 3 · run · WRITER/CRITIC/SCORE ran · WRITER/CRITIC: set words",
    ]
    assert "step 2 · run · WRITER/DRAFT ran · WRITER: set draft, words" in labels
    assert "step 1 · run · PLAN ran · set topic" in labels
    assert [label for label, _ in ui.history.picker.options] == labels


def test_time_travel_to_a_step_inside_a_subgraph_shows_its_call_stack():
    ui = start(nested_app())
    at(ui)
    scored = next(c for c in ui.session.history if c.node == "WRITER/CRITIC/SCORE")
    ui.history.pick(scored.checkpoint_id)
    assert ui.graph.current == "WRITER/CRITIC/SCORE" and ui.graph.phase == "after"
    assert [path for _, path in ui.inspector.stack.options] == ["WRITER/CRITIC", "WRITER", ""]
    assert values(ui)["words"] == "3" and ui.inspector.editors["words"].changed_by == "WRITER/CRITIC/SCORE"
    assert "Viewing step 3" in ui.inspector.banner.value and "WRITER/CRITIC: set words" in ui.inspector.banner.value
    ui.inspector.stack.value = "WRITER"  # a frame of the past step, read-only
    assert values(ui)["words"] == "2" and ui.inspector.readonly
    ui.back_to_live()
    assert ui.graph.current == "WRITER/REVIEW" and ui.inspector.frame == "WRITER"


def test_the_session_steps_from_code_and_refuses_what_does_not_apply():
    from agentflow_nb.notebook import DebugSession

    session = DebugSession(nested_app(interrupt_before=["WRITER"]), {"messages": []})
    assert session.wait() == St.PAUSED and session.frames == ()
    with pytest.raises(RuntimeError, match="nothing to step out of"):
        session.step_out()
    with pytest.raises(ValueError, match="config\\['step'\\] must be True"):
        session.resume(step="sideways")
    session.step_into()
    assert session.wait() == St.PAUSED and session.frames == ("WRITER",)
    with pytest.raises(LookupError, match="not inside subgraph `WRITER/CRITIC`"):
        session.step({"words": 5}, subgraph="WRITER/CRITIC")
    with pytest.raises(pydantic.ValidationError):
        session.step({"words": -1}, subgraph="WRITER")
    assert [c.source for c in session.history].count("edit") == 0  # nothing saved by either
    session.step({"words": 5}, subgraph="WRITER")
    assert session.wait() == St.PAUSED and session.position.current == "WRITER/DRAFT"
    assert session.checkpoint.state_at("WRITER").words == 2  # DRAFT ran after the edit
    session.step_out()
    assert session.wait() == St.PAUSED and session.position.current == "WRITER/REVIEW"
