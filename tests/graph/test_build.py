"""Graph building and compile-time validation."""

from __future__ import annotations

import pytest

from agentflow_nb import END, START, GraphError, InMemoryCheckpointer, StateGraph


def noop(state):
    return None


def three_nodes() -> StateGraph:
    graph = StateGraph()
    graph.add_node("ANALYZE", noop)
    graph.add_node("EXECUTE_TOOL", noop)
    graph.add_node("CLEANUP", noop)
    graph.add_edge(START, "ANALYZE").add_edge("ANALYZE", "EXECUTE_TOOL")
    graph.add_edge("EXECUTE_TOOL", "CLEANUP").add_edge("CLEANUP", END)
    return graph


def test_unknown_interrupt_name_says_valid_names_and_closest_match():
    with pytest.raises(GraphError) as info:
        three_nodes().compile(interrupt_before=["EXECUTE_TOL"])
    message = str(info.value)
    assert "interrupt_before names `EXECUTE_TOL`, which is not a node" in message
    assert "`ANALYZE`, `EXECUTE_TOOL`, `CLEANUP`" in message
    assert "did you mean `EXECUTE_TOOL`?" in message


def test_unknown_interrupt_after_name():
    with pytest.raises(GraphError, match="interrupt_after names `CLEANUPP`.*did you mean `CLEANUP`"):
        three_nodes().compile(interrupt_after=["CLEANUPP"])


def test_edge_to_unknown_node():
    graph = three_nodes()
    graph.add_node("EXTRA", noop)
    graph.edges["EXTRA"] = ["CLEANUq"]
    with pytest.raises(GraphError, match="the edge from `EXTRA` names `CLEANUq`.*did you mean `CLEANUP`"):
        graph.compile()


def test_no_entry_point():
    graph = StateGraph()
    graph.add_node("A", noop).add_node("B", noop)
    graph.add_edge("A", "B").add_edge("B", END)
    with pytest.raises(GraphError, match="no entry point.*add_edge\\(START"):
        graph.compile()


def test_node_with_no_way_out():
    graph = StateGraph()
    graph.add_node("A", noop).add_node("B", noop)
    graph.add_edge(START, "A").add_edge("A", "B")
    with pytest.raises(GraphError, match="node `B` has no way out"):
        graph.compile()


def test_unreachable_node():
    graph = StateGraph()
    graph.add_node("A", noop).add_node("ORPHAN", noop)
    graph.add_edge(START, "A").add_edge("A", END).add_edge("ORPHAN", END)
    with pytest.raises(GraphError, match="`ORPHAN` cannot be reached from START"):
        graph.compile()


def test_two_plain_edges_from_one_node_are_refused():
    graph = StateGraph()
    graph.add_node("A", noop).add_node("B", noop).add_node("C", noop)
    graph.add_edge(START, "A").add_edge("A", "B").add_edge("A", "C")
    graph.add_edge("B", END).add_edge("C", END)
    with pytest.raises(GraphError, match="`A` has 2 edges.*add_conditional_edges"):
        graph.compile()


def test_bad_path_map_target():
    graph = StateGraph()
    graph.add_node("A", noop).add_node("B", noop)
    graph.add_edge(START, "A").add_edge("B", END)
    graph.add_conditional_edges("A", lambda s: "go", {"go": "BB", "stop": END})
    with pytest.raises(GraphError, match="path map of `A` names `BB`.*did you mean `B`"):
        graph.compile()


def test_node_name_rules():
    graph = StateGraph()
    graph.add_node("A", noop)
    with pytest.raises(GraphError, match="already in the graph"):
        graph.add_node("A", noop)
    with pytest.raises(GraphError, match="reserved"):
        graph.add_node(END, noop)
    with pytest.raises(GraphError, match="must be a function"):
        graph.add_node("B", 42)
    with pytest.raises(GraphError, match="`\\(state\\)` or `\\(state, config\\)`"):
        graph.add_node("C", lambda a, b, c: None)


def test_add_node_by_function_uses_its_name():
    def my_step(state):
        return None

    graph = StateGraph()
    graph.add_node(my_step)
    assert "my_step" in graph.nodes


def test_state_must_be_an_agent_state():
    with pytest.raises(GraphError, match="AgentState"):
        StateGraph(state=dict)


def test_checkpointer_and_publisher_types_are_checked():
    with pytest.raises(TypeError, match="BaseCheckpointer"):
        three_nodes().compile(checkpointer={})
    with pytest.raises(TypeError, match="publish"):
        three_nodes().compile(publisher=object())


def test_no_checkpointer_means_in_memory():
    app = three_nodes().compile()
    assert isinstance(app.checkpointer, InMemoryCheckpointer)


def test_empty_graph():
    with pytest.raises(GraphError, match="no nodes"):
        StateGraph().compile()
