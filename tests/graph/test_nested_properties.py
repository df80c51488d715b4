"""Property: over generated graphs with subgraphs nested up to three levels, pausing and resuming
anywhere never changes what a run computes, and every node runs exactly once per visit."""

from __future__ import annotations

import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from agentflow_nb import END, START, AgentState, FileCheckpointer, InMemoryCheckpointer, Message, StateGraph
from agentflow_nb.state import ExecutionStatus


class Trail(AgentState):
    counter: int = 0
    trail: list[str] = []


@st.composite
def graph_specs(draw, depth=1):
    """A graph: 1-3 items, each a node or (above depth 3) a subgraph; maybe a loop back."""
    items = []
    for i in range(draw(st.integers(1, 3))):
        if depth < 3 and draw(st.booleans()):
            items.append({"name": f"S{i}", "sub": draw(graph_specs(depth + 1)),
                          "share_messages": draw(st.booleans())})
        else:
            items.append({"name": f"N{i}", "talks": draw(st.booleans())})
    loop = draw(st.none() | st.integers(2, 6))
    own = draw(st.sets(st.sampled_from([item["name"] for item in items]), max_size=1))
    return {"items": items, "loop": loop, "own_before": sorted(own)}


def paths(spec, prefix=""):
    """Every node path (leaves and subgraph nodes) of a spec."""
    for item in spec["items"]:
        path = f"{prefix}{item['name']}"
        yield path
        if "sub" in item:
            yield from paths(item["sub"], path + "/")


def leaves(spec, prefix=""):
    for item in spec["items"]:
        path = f"{prefix}{item['name']}"
        if "sub" in item:
            yield from leaves(item["sub"], path + "/")
        else:
            yield path


def build(spec, log, prefix=""):
    graph = StateGraph(Trail)
    names = []
    for item in spec["items"]:
        path = f"{prefix}{item['name']}"
        if "sub" in item:
            graph.add_node(item["name"], build(item["sub"], log, path + "/"),
                           share_messages=item["share_messages"])
        else:
            graph.add_node(item["name"], leaf(path, item["talks"], log))
        names.append(item["name"])
    graph.add_edge(START, names[0])
    for a, b in zip(names, names[1:]):
        graph.add_edge(a, b)
    limit = spec["loop"]
    if limit is None:
        graph.add_edge(names[-1], END)
    else:
        graph.add_conditional_edges(names[-1], lambda s, first=names[0], limit=limit: first if s.counter < limit else END)
    return graph.compile(interrupt_before=spec["own_before"])


def leaf(path, talks, log):
    def node(state, config):
        log.append(path)
        if path in config.get("pauses", ()):  # a node that asks for a pause after itself
            state.set_interrupt(path, "asked", status=ExecutionStatus.INTERRUPTED_AFTER)
        update = {"counter": state.counter + 1, "trail": [*state.trail, path]}
        if talks:
            update["messages"] = [Message.text_message(f"{path}:{state.counter}", role="assistant")]
        return update

    return node


def own_before(spec, prefix=""):
    """The paths the graphs' own `interrupt_before` pause at."""
    for name in spec["own_before"]:
        yield f"{prefix}{name}"
    for item in spec["items"]:
        if "sub" in item:
            yield from own_before(item["sub"], f"{prefix}{item['name']}/")


def run(spec, saver, config):
    log = []
    app = build(spec, log)
    stream = list(app.stream({"messages": [Message.text_message("go")]}, config=config))
    visits = [c.node for c in stream if c.event_type == "node_start"]
    result = app.get_state(config)
    resumes = iter(config.get("steps", ()))
    pauses = 0
    while result.status in (ExecutionStatus.INTERRUPTED_BEFORE, ExecutionStatus.INTERRUPTED_AFTER):
        pauses += 1
        assert pauses < 1000
        step = next(resumes, None)
        chunks = list(app.stream({}, config={**config, "step": step}))
        visits += [c.node for c in chunks if c.event_type == "node_start"]
        result = app.get_state(config)
    state = result.state
    outcome = (result.status, state.counter, state.trail, [m.content for m in state.messages], log)
    return outcome, pauses, visits


@st.composite
def scenarios(draw):
    spec = draw(graph_specs())
    every = sorted(paths(spec))
    return {
        "spec": spec,
        "before": draw(st.sets(st.sampled_from(every))),
        "after": draw(st.sets(st.sampled_from(every))),
        "pauses": draw(st.sets(st.sampled_from(sorted(leaves(spec))), max_size=2)),
        "steps": draw(st.lists(st.sampled_from([None, "into", "over", "out"]), max_size=12)),
        "on_file": draw(st.booleans()),
        "per_run": draw(st.booleans()),  # breakpoints in config, else the graphs' own
    }


@settings(max_examples=60, deadline=None)
@given(case=scenarios())
def test_pausing_and_resuming_anywhere_in_nested_graphs_changes_nothing(case):
    spec = case["spec"]
    plain_config = {"thread_id": "p", "recursion_limit": 10_000, "interrupt_before": [], "interrupt_after": []}
    plain, plain_pauses, plain_visits = run(spec, InMemoryCheckpointer(), plain_config)
    assert plain_pauses == 0 and plain[0] is ExecutionStatus.COMPLETED
    with tempfile.TemporaryDirectory() as folder:
        saver = FileCheckpointer(folder) if case["on_file"] else InMemoryCheckpointer()
        config = {"thread_id": "p", "recursion_limit": 10_000, "pauses": sorted(case["pauses"]),
                  "steps": case["steps"]}
        before, after = set(own_before(spec)), set()
        if case["per_run"]:
            before, after = case["before"], case["after"]
            config.update(interrupt_before=sorted(before), interrupt_after=sorted(after))
        paused, pauses, visits = run(spec, saver, config)
    assert paused == plain  # same end state, same messages, and the same node runs in the same order
    assert visits == plain_visits  # no node started twice for one visit, subgraphs included
    # a node's own pause after itself and a breakpoint after it share one boundary: one pause
    expected = sum((p in before) + (p in after or p in case["pauses"]) for p in plain_visits)
    if not any(case["steps"]):
        assert pauses == expected  # one pause per breakpoint per visit, no more
    else:
        assert pauses >= expected
