"""Small nested graphs for the nested-graph tests: a supervisor with a writer sub-agent."""

from __future__ import annotations

from agentflow_nb import END, START, AgentState, Message, StateGraph


class Doc(AgentState):
    topic: str = ""
    draft: str = ""
    approved: bool = False
    notes: list[str] = []


def logged(calls, name, result=None):
    """A node that logs `name` to `calls` and returns `result(state)` (or None)."""

    def node(state):
        calls.append(name)
        return result(state) if callable(result) else result

    node.__name__ = name
    return node


def writer_graph(calls, **compile_kwargs):
    """DRAFT -> REVIEW; REVIEW says whether the draft was approved."""
    graph = StateGraph(Doc)
    graph.add_node("DRAFT", logged(calls, "DRAFT", lambda s: {"draft": f"about {s.topic}"}))
    graph.add_node("REVIEW", logged(
        calls, "REVIEW",
        lambda s: Message.text_message(f"review: approved={s.approved}", role="assistant")))
    graph.add_edge(START, "DRAFT").add_edge("DRAFT", "REVIEW").add_edge("REVIEW", END)
    return graph.compile(**compile_kwargs)


def supervisor(calls, writer, checkpointer=None, **compile_kwargs):
    """PLAN -> WRITER (the subgraph) -> PUBLISH."""
    graph = StateGraph(Doc)
    graph.add_node("PLAN", logged(calls, "PLAN", lambda s: {"topic": "owls"}))
    graph.add_node("WRITER", writer)
    graph.add_node("PUBLISH", logged(
        calls, "PUBLISH", lambda s: Message.text_message(f"published {s.draft!r} approved={s.approved}",
                                                         role="assistant")))
    graph.add_edge(START, "PLAN").add_edge("PLAN", "WRITER").add_edge("WRITER", "PUBLISH")
    graph.add_edge("PUBLISH", END)
    return graph.compile(checkpointer=checkpointer, **compile_kwargs)


def go(app, thread="t", text="write about owls", **config):
    return app.invoke({"messages": [Message.text_message(text)]}, config={"thread_id": thread, **config})


def resume(app, thread="t", values=None, **config):
    return app.invoke(values or {}, config={"thread_id": thread, **config})
