"""Building graphs with subgraphs: what compiles, and the clear errors for what does not."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import ConfigDict

from agentflow_nb import (
    END,
    START,
    AgentState,
    FileCheckpointer,
    GraphError,
    InMemoryCheckpointer,
    StateGraph,
)
from agentflow_nb.graph import Subgraph
from tests.graph.nested_graphs import Doc, supervisor, writer_graph


class Other(AgentState):
    topic: int = 0  # same name as Doc.topic, another type
    summary: str = ""


def sub_of(schema, *nodes, **compile_kwargs):
    graph = StateGraph(schema)
    for name in nodes or ("WORK",):
        graph.add_node(name, lambda s: None)
    return graph.compile(**compile_kwargs)


def test_a_compiled_graph_is_a_node_and_its_own_breakpoints_are_listed_by_path():
    writer = writer_graph([], interrupt_before=["REVIEW"], interrupt_after=["DRAFT"])
    app = supervisor([], writer, interrupt_before=["PUBLISH"])
    assert isinstance(app.nodes["WRITER"], Subgraph) and app.subgraphs["WRITER"].graph is writer
    assert app.interrupt_before == ("PUBLISH", "WRITER/REVIEW")
    assert app.interrupt_after == ("WRITER/DRAFT",)


def test_walk_and_graph_at_reach_every_subgraph_at_any_depth():
    inner = sub_of(Doc, "X")
    middle = StateGraph(Doc).add_node("INNER", inner).add_node("Y", lambda s: None).compile()
    app = StateGraph(Doc).add_node("A", middle).add_node("B", middle).compile()
    assert [path for path, _ in app.walk()] == ["", "A", "A/INNER", "B", "B/INNER"]
    assert app.graph_at("B/INNER") is inner and app.graph_at("") is app
    with pytest.raises(GraphError, match=r"`A/Y` is not a subgraph.*`A` has no subgraph node `Y`"):
        app.graph_at("A/Y")


def test_a_subgraph_with_its_own_checkpointer_is_a_compile_time_error_saying_why(tmp_path):
    for saver in (InMemoryCheckpointer(), FileCheckpointer(tmp_path)):
        graph = StateGraph(Doc).add_node("SUB", sub_of(Doc, checkpointer=saver))
        with pytest.raises(GraphError, match=r"subgraph `SUB` was compiled with its own checkpointer .*"
                                             r"runs under its parent's thread and checkpointer"):
            graph.compile()


def test_a_default_checkpointer_does_not_count_as_its_own():
    sub = sub_of(Doc)  # got an InMemoryCheckpointer by default, as every compiled graph does
    assert not sub.checkpointer_given
    StateGraph(Doc).add_node("SUB", sub).compile()


def test_shared_fields_of_different_types_are_named_at_compile_time():
    graph = StateGraph(Doc).add_node("SUB", sub_of(Other))
    with pytest.raises(GraphError, match=r"field `topic` of subgraph `SUB` is `int` there but `str` in the parent"):
        graph.compile()


def test_a_field_that_can_pass_in_but_not_back_out_is_an_error():
    class Loose(AgentState):
        topic: str | None = None

    with pytest.raises(GraphError, match=r"`topic`.*`str \| None` there but `str` in the parent.*cannot pass out"):
        StateGraph(Doc).add_node("SUB", sub_of(Loose)).compile()


def test_compatible_types_pass():
    class Narrow(AgentState):
        topic: Literal["owls", "bats"] = "owls"  # out: a Literal of str fits str
        notes: list[str] = []

    class Wide(AgentState):
        topic: str = ""
        notes: list[str] = []

    StateGraph(Wide).add_node("SUB", sub_of(Narrow), input={}).compile()  # in: str does not fit the Literal
    with pytest.raises(GraphError, match=r"`topic`.*cannot pass in"):
        StateGraph(Wide).add_node("SUB", sub_of(Narrow)).compile()


def test_mappings_connect_fields_of_other_names_and_types_are_checked():
    sub = sub_of(Other)
    StateGraph(Doc).add_node("SUB", sub, input={"summary": "topic"}, output={"summary": "draft"}).compile()
    with pytest.raises(GraphError, match=r"`topic` \(the parent's `draft`\) of subgraph `SUB` is `int` there"):
        StateGraph(Doc).add_node("SUB", sub, input={"topic": "draft"}, output={}).compile()


def test_a_mapping_naming_an_unknown_field_gets_a_did_you_mean():
    class Strict(AgentState):
        model_config = ConfigDict(extra="forbid")
        summary: str = ""

    sub = sub_of(Strict)
    with pytest.raises(GraphError, match=r"input of subgraph `SUB` names `sumary`, which is not a field of "
                                         r"the subgraph's state `Strict`; its fields are `summary`; did you mean `summary`\?"):
        StateGraph(Doc).add_node("SUB", sub, input={"sumary": "topic"}, output={}).compile()


def test_messages_and_metadata_cannot_be_mapped():
    sub = sub_of(Doc)
    with pytest.raises(GraphError, match="share_messages=False"):
        StateGraph(Doc).add_node("SUB", sub, output={"messages": "messages"}).compile()
    with pytest.raises(GraphError, match="managed by the engine"):
        StateGraph(Doc).add_node("SUB", sub, input={"execution_meta": "execution_meta"}).compile()
    with pytest.raises(GraphError, match="must be a dict of field names"):
        StateGraph(Doc).add_node("SUB", sub, input=["topic"])


def test_subgraph_options_on_a_function_node_are_an_error():
    with pytest.raises(GraphError, match="for a subgraph node"):
        StateGraph(Doc).add_node("F", lambda s: None, share_messages=False)


def test_node_names_may_not_contain_the_path_separator():
    with pytest.raises(GraphError, match=r"node name `A/B` contains `/`"):
        StateGraph(Doc).add_node("A/B", lambda s: None)


def test_breakpoints_by_path_are_checked_with_a_did_you_mean():
    writer = writer_graph([])
    with pytest.raises(GraphError, match=r"interrupt_before names `WRITER/REVEIW`.*did you mean `WRITER/REVIEW`\?"):
        supervisor([], writer, interrupt_before=["WRITER/REVEIW"])
    with pytest.raises(GraphError, match=r"`PLAN` is not a subgraph, so it has no node `X`; subgraph nodes are `WRITER`"):
        supervisor([], writer, interrupt_after=["PLAN/X"])
    app = supervisor([], writer)
    with pytest.raises(GraphError, match=r"names `WRITER/NOPE`"):
        app.invoke({}, config={"thread_id": "t", "interrupt_before": ["WRITER/NOPE"]})
    assert app.threads() == []  # nothing saved


def test_the_same_subgraph_twice_and_three_levels_deep_compile():
    leaf = sub_of(Doc, "LEAF")
    middle = StateGraph(Doc).add_node("L1", leaf).add_node("L2", leaf).compile(interrupt_after=["L2/LEAF"])
    graph = StateGraph(Doc).add_node("M1", middle).add_node("M2", middle)
    app = graph.compile()
    assert app.interrupt_after == ("M1/L2/LEAF", "M2/L2/LEAF")
    app.check_names("a breakpoint", ["M2/L1/LEAF", "M1/L2"])


def test_edges_cannot_name_paths():
    graph = StateGraph(Doc).add_node("SUB", sub_of(Doc, "X"))
    graph.add_edge(START, "SUB").add_edge("SUB", "SUB/X")
    with pytest.raises(GraphError, match=r"the edge from `SUB` names `SUB/X`, which is not a node"):
        graph.compile()
    graph = StateGraph(Doc).add_node("SUB", sub_of(Doc, "X"))
    graph.add_edge(START, "SUB").add_edge("SUB", END)
    graph.compile()
