"""Property: breakpoints and resumes never change what a run computes or which nodes run."""

from __future__ import annotations

import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from agentflow_nb import END, START, AgentState, FileCheckpointer, InMemoryCheckpointer, StateGraph


class Trail(AgentState):
    counter: int = 0
    trail: list[str] = []


@st.composite
def graph_specs(draw):
    n = draw(st.integers(1, 5))
    kind = draw(st.sampled_from(["linear", "branching", "looping"]))
    spec = {"n": n, "kind": kind}
    if kind == "branching" and n >= 2:
        b = draw(st.integers(0, n - 2))
        spec["branch"] = (b, draw(st.sampled_from([*range(b + 1, n), END])))
    if kind == "looping":
        spec["loop"] = (draw(st.integers(0, n - 1)), draw(st.integers(2, 9)))
    names = [f"N{i}" for i in range(n)]
    spec["before"] = draw(st.sets(st.sampled_from(names)))
    spec["after"] = draw(st.sets(st.sampled_from(names)))
    spec["steps"] = draw(st.lists(st.booleans(), max_size=30))  # True: resume one step at a time
    return spec


def build(spec, saver, log):
    graph = StateGraph(Trail)
    names = [f"N{i}" for i in range(spec["n"])]
    for name in names:
        def node(state, name=name):
            log.append(name)
            return {"counter": state.counter + 1, "trail": [*state.trail, name]}

        graph.add_node(name, node)
    graph.add_edge(START, names[0])
    for i, name in enumerate(names):
        following = names[i + 1] if i + 1 < len(names) else END
        if spec.get("branch", (None,))[0] == i:
            other = spec["branch"][1]
            other = other if other == END else names[other]
            graph.add_conditional_edges(name, lambda s, a=following, b=other: a if s.counter % 2 else b)
        elif "loop" in spec and i == len(names) - 1:
            back, limit = spec["loop"]
            graph.add_conditional_edges(
                name, lambda s, to=names[back], limit=limit: to if s.counter < limit else END
            )
        else:
            graph.add_edge(name, following)
    return graph.compile(checkpointer=saver)


def outcome(spec, saver, breakpoints):
    log: list[str] = []
    app = build(spec, saver, log)
    config = {"thread_id": "p", "recursion_limit": 500}
    if breakpoints:
        config.update(interrupt_before=sorted(spec["before"]), interrupt_after=sorted(spec["after"]))
    result = app.invoke({"messages": []}, config=config)
    steps = iter(spec["steps"])
    pauses = 0
    while result["interrupted"]:
        pauses += 1
        assert pauses < 500
        result = app.invoke({}, config={**config, "step": next(steps, False)})
    state = result["state"]
    return (state.counter, state.trail, log, result["status"]), pauses


@settings(max_examples=80, deadline=None)
@given(spec=graph_specs(), on_file=st.booleans())
def test_breakpoints_and_resumes_do_not_change_the_run(spec, on_file):
    with tempfile.TemporaryDirectory() as folder:
        saver = FileCheckpointer(folder) if on_file else InMemoryCheckpointer()
        plain, _ = outcome(spec, InMemoryCheckpointer(), breakpoints=False)
        paused, pauses = outcome(spec, saver, breakpoints=True)
    assert paused == plain
    log = plain[2]
    expected = sum((name in spec["before"]) + (name in spec["after"]) for name in log)
    if not any(spec["steps"]):
        assert pauses == expected  # one pause per breakpoint per visit, no more
    else:
        assert pauses >= expected
