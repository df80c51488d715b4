"""Stepping through nested graphs: `config["step"]` is `"into"`, `"over"` (also `True`) or `"out"`."""

from __future__ import annotations

import pytest

from agentflow_nb import ExecutionStatus, StateGraph
from tests.graph.nested_graphs import Doc, go, logged, resume, supervisor, writer_graph

S = ExecutionStatus


def app_and_calls(**compile_kwargs):
    calls = []
    return supervisor(calls, writer_graph(calls), **compile_kwargs), calls


def positions(app, *modes, start=None):
    """Where each step of `modes` pauses: (status, node) per step."""
    out = []
    for mode in modes:
        result = resume(app, step=mode)
        out.append((result["status"].value, result["current_node"]))
    return out


def test_step_into_stops_before_the_first_node_of_a_subgraph_then_walks_it():
    app, calls = app_and_calls(interrupt_before=["WRITER"])
    go(app)
    assert positions(app, "into", "into", "into", "into", "into") == [
        ("interrupted_before", "WRITER/DRAFT"),
        ("interrupted_after", "WRITER/DRAFT"),
        ("interrupted_after", "WRITER/REVIEW"),
        ("interrupted_after", "WRITER"),  # the subgraph ended: back in the parent
        ("interrupted_after", "PUBLISH"),
    ]
    assert calls == ["PLAN", "DRAFT", "REVIEW", "PUBLISH"]


def test_step_over_runs_a_subgraph_whole():
    app, calls = app_and_calls(interrupt_before=["WRITER"])
    go(app)
    assert positions(app, "over") == [("interrupted_after", "WRITER")]
    assert calls == ["PLAN", "DRAFT", "REVIEW"]
    assert resume(app, step=True)["current_node"] == "PUBLISH"  # True is "over"


def test_step_over_inside_a_subgraph_stays_at_its_level_then_returns_to_the_parent():
    app, calls = app_and_calls(interrupt_before=["WRITER/DRAFT"])
    go(app)
    assert positions(app, "over", "over", "over") == [
        ("interrupted_after", "WRITER/DRAFT"),
        ("interrupted_after", "WRITER/REVIEW"),
        ("interrupted_after", "WRITER"),
    ]


def test_step_out_finishes_the_subgraph_and_stops_in_the_parent():
    app, calls = app_and_calls(interrupt_before=["WRITER/DRAFT"])
    go(app)
    assert positions(app, "out") == [("interrupted_after", "WRITER")]
    assert calls == ["PLAN", "DRAFT", "REVIEW"]
    assert resume(app, step="out")["status"] is S.COMPLETED  # out of the root: run to the end


def test_breakpoints_inside_still_fire_while_stepping_over_and_the_next_step_is_from_there():
    app, calls = app_and_calls(interrupt_before=["WRITER"], interrupt_after=["WRITER/DRAFT"])
    go(app)
    assert positions(app, "over", "over") == [
        ("interrupted_after", "WRITER/DRAFT"),  # the breakpoint inside, hit while stepping over WRITER
        ("interrupted_after", "WRITER/REVIEW"),  # a step over from inside stays inside
    ]


def test_step_into_nested_subgraphs_goes_one_level_per_step():
    calls = []
    leaf = StateGraph(Doc).add_node("LEAF", logged(calls, "LEAF")).compile()
    middle = StateGraph(Doc).add_node("INNER", leaf).compile()
    app = StateGraph(Doc).add_node("MIDDLE", middle).compile(interrupt_before=["MIDDLE"])
    go(app)
    assert positions(app, "into", "into", "into", "out", "out") == [
        ("interrupted_before", "MIDDLE/INNER"),
        ("interrupted_before", "MIDDLE/INNER/LEAF"),
        ("interrupted_after", "MIDDLE/INNER/LEAF"),
        ("interrupted_after", "MIDDLE/INNER"),
        ("interrupted_after", "MIDDLE"),
    ]
    assert calls == ["LEAF"]


def test_a_bad_step_value_is_refused():
    app, _ = app_and_calls()
    with pytest.raises(ValueError, match=r"config\['step'\] must be True \(same as 'over'\), 'into', 'over' or 'out'"):
        go(app, step="sideways")
    assert app.threads() == []
