"""Drawing nested graphs: subgraphs as clusters (open) or single nodes (closed), positions at any
depth, the arrows a run follows across levels — pure, with a real `dot` for the SVG."""

from __future__ import annotations

import re

import pytest

from agentflow_nb import END, START, GraphError, StateGraph
from agentflow_nb.render import Drawing, Position, position_classes, to_dot
from agentflow_nb.render.shape import OPEN_UP_TO, GraphShape
from agentflow_nb.render.style import BASE_CSS, NESTED_LEGEND, legend_html
from tests.notebook.apps import nested_app


@pytest.fixture(scope="module")
def app():
    return nested_app()


def test_every_node_at_every_depth_has_an_id_that_does_not_change_with_opening(app):
    closed, open_ = GraphShape.of(app, False), GraphShape.of(app, True)
    assert closed.paths == ("PLAN", "WRITER", "PUBLISH", "WRITER/DRAFT", "WRITER/CRITIC", "WRITER/REVIEW",
                            "WRITER/CRITIC/SCORE")
    assert closed.subgraph_paths == ("WRITER", "WRITER/CRITIC")
    assert [closed.node_id(p) for p in closed.paths] == [open_.node_id(p) for p in open_.paths]
    assert set(closed.node_ids()) == {START, END, "PLAN", "WRITER", "PUBLISH"}  # only what is drawn
    assert {"WRITER/__start__", "WRITER/DRAFT", "WRITER/CRITIC/SCORE", "WRITER/CRITIC/__end__"} <= set(
        open_.node_ids())
    assert open_.edge_id(START, "PLAN") == closed.edge_id(START, "PLAN") == "afe_0"  # the top graph's come first


def test_an_open_subgraph_is_a_labelled_cluster_and_arrows_are_clipped_at_it(app):
    dot = to_dot(GraphShape.of(app, ["WRITER"]))
    assert "compound=true" in dot
    writer = GraphShape.of(app).node_id("WRITER")
    assert 'subgraph "cluster_WRITER" {' in dot
    assert f'graph [id="{writer}" class="af_cluster" label="WRITER" tooltip="WRITER (subgraph)"' in dot
    assert re.search(r'"PLAN" -> "WRITER/__start__" \[id="afe_\d+" class="af_edge" lhead="cluster_WRITER"\]', dot)
    assert re.search(r'"WRITER/__end__" -> "PUBLISH" \[id="afe_\d+" class="af_edge" ltail="cluster_WRITER"\]', dot)
    critic = GraphShape.of(app).node_id("WRITER/CRITIC")  # closed inside the open writer: one node
    assert (f'"WRITER/CRITIC" [id="{critic}" class="af_node af_sub" label="CRITIC" peripheries="2" '
            'tooltip="WRITER/CRITIC: a subgraph of 1 node, closed"]') in dot
    assert '"WRITER/DRAFT" [id="afn_3" class="af_node" label="DRAFT" tooltip="WRITER/DRAFT"]' in dot
    assert "cluster_WRITER/CRITIC" not in dot and "WRITER/CRITIC/SCORE" not in dot


def test_the_svg_from_a_real_dot_has_each_drawn_node_cluster_and_arrow(app):
    for expand in (True, False, ["WRITER"]):
        drawing = Drawing.of(app, expand)
        svg = drawing.svg
        for name, element in drawing.shape.node_ids().items():
            kind = "cluster af_cluster" if drawing.shape.is_open(name) else "node af_node"
            assert f'<g id="{element}" class="{kind}' in svg, name
        for element in drawing.shape.drawn_edge_ids:
            assert f'<g id="{element}" class="edge af_edge' in svg


def test_the_arrows_a_run_follows_across_levels(app):
    shape = GraphShape.of(app, True)

    def arrow(level: str, source: str, target: str) -> str:
        return next(e.id for e in shape.level(level).edges if (e.source, e.target) == (source, target))

    assert shape.transition("PLAN", "WRITER/DRAFT") == (arrow("", "PLAN", "WRITER"),
                                                        arrow("WRITER", START, "DRAFT"))
    assert shape.transition("WRITER/DRAFT", "WRITER/CRITIC/SCORE") == (
        arrow("WRITER", "DRAFT", "CRITIC"), arrow("WRITER/CRITIC", START, "SCORE"))
    assert shape.transition("WRITER/CRITIC/SCORE", "WRITER/CRITIC") == (arrow("WRITER/CRITIC", "SCORE", END),)
    assert shape.transition("WRITER/CRITIC", "WRITER/REVIEW") == (arrow("WRITER", "CRITIC", "REVIEW"),)
    assert shape.transition("WRITER", "PUBLISH") == (arrow("", "WRITER", "PUBLISH"),)
    assert shape.transition("PUBLISH", END) == (arrow("", "PUBLISH", END),)
    assert shape.transition("WRITER/REVIEW", "PLAN") == ()  # not one move of a run: nothing to tint


def test_a_position_deep_inside_shows_on_what_is_drawn(app):
    position = Position(
        current="WRITER/CRITIC/SCORE", phase="before", visited=frozenset({"PLAN", "WRITER/DRAFT"}),
        before=frozenset({"WRITER/CRITIC/SCORE", "PUBLISH"}), after=frozenset({"WRITER/DRAFT"}),
        edge=("WRITER/DRAFT", "WRITER/CRITIC/SCORE"),
        path_edges=frozenset({(START, "PLAN"), ("PLAN", "WRITER/DRAFT")}),
    )
    opened = GraphShape.of(app, True)
    ids = opened.node_ids()
    marks = position_classes(opened, position)
    assert marks[ids["WRITER/CRITIC/SCORE"]] == "af_before af_bp_before"
    assert marks[ids["WRITER"]] == "af_frame" and marks[ids["WRITER/CRITIC"]] == "af_frame"
    assert marks[ids["WRITER/DRAFT"]] == "af_path af_bp_after"
    taken = opened.transition("WRITER/DRAFT", "WRITER/CRITIC/SCORE")
    assert all("af_taken" in marks[e] for e in taken) and len(taken) == 2

    closed = GraphShape.of(app, False)
    ids = closed.node_ids()
    marks = position_classes(closed, position)
    assert set(marks[ids["WRITER"]].split()) == {"af_path", "af_before", "af_bp_inside"}  # the run is inside it
    assert marks[ids["PUBLISH"]] == "af_bp_before"
    assert set(marks) <= set(ids.values()) | closed.drawn_edge_ids  # nothing marked that is not drawn
    assert marks[closed.edge_id("PLAN", "WRITER")] == "af_path"  # the way in; the arrows inside are not drawn


def test_a_large_nested_graph_starts_closed_and_bad_paths_are_refused():
    inner = StateGraph()
    names = [f"N{i}" for i in range(OPEN_UP_TO)]
    for name in names:
        inner.add_node(name, lambda s: None)
    for a, b in zip([START, *names], [*names, END], strict=False):
        inner.add_edge(a, b)
    outer = StateGraph().add_node("BIG", inner.compile())
    outer.add_edge(START, "BIG").add_edge("BIG", END)
    big = outer.compile()
    assert GraphShape.of(big).expanded == frozenset()
    assert GraphShape.of(big, ["BIG"]).expanded == {"BIG"}
    with pytest.raises(GraphError, match=r"expand names `BIGG`, which is not a subgraph node.*did you mean `BIG`"):
        GraphShape.of(big, ["BIGG"])
    with pytest.raises(GraphError, match="`BIG/N1`"):
        Drawing.of(big).expand("BIG/N1")


def test_the_legend_and_the_css_cover_clusters(app):
    for classes, label, _ in NESTED_LEGEND:
        for css in classes.split():
            assert f".{css}" in BASE_CSS
        assert f"</svg>{label}</span>" in legend_html(nested=True)
        assert label not in legend_html()  # a flat graph's legend stays as it was
    assert ".af_svg .af_cluster.af_before > path" in BASE_CSS and ".af_svg .af_node.af_sub > path ~ path" in BASE_CSS
    html = Drawing.of(app).html(Position(current="WRITER/DRAFT", phase="after"))
    assert "subgraph (open)" in html and 'class="af_after node' in html
