"""Shared fixtures: small graphs built from deterministic stand-in nodes (no LLM)."""

from __future__ import annotations

import pytest

from agentflow_nb import END, START, FileCheckpointer, InMemoryCheckpointer, Message, StateGraph


@pytest.fixture(params=["memory", "file"])
def saver(request, tmp_path):
    """Each checkpointer in turn, empty."""
    if request.param == "memory":
        return InMemoryCheckpointer()
    return FileCheckpointer(tmp_path / "threads")


def analyze_user_request(state):
    """Stand-in analysis: summarise the last user message."""
    return Message.text_message(f"analysis: {state.messages[-1].content}", role="assistant")


def execute_user_action(state):
    """Stand-in action: only acts when a human approved."""
    approved = any(m.content.startswith("APPROVED") for m in state.messages)
    return {"executed": approved}


def finalize_action(state):
    return Message.text_message("finalized", role="assistant")


def build_approval_agent(checkpointer=None, **compile_kwargs):
    graph = StateGraph()
    graph.add_node("ANALYZE_REQUEST", analyze_user_request)
    graph.add_node("EXECUTE_ACTION", execute_user_action)
    graph.add_node("FINALIZE", finalize_action)
    graph.add_edge(START, "ANALYZE_REQUEST")
    graph.add_edge("ANALYZE_REQUEST", "EXECUTE_ACTION")
    graph.add_edge("EXECUTE_ACTION", "FINALIZE")
    graph.add_edge("FINALIZE", END)
    compile_kwargs.setdefault("interrupt_before", ["EXECUTE_ACTION"])
    return graph.compile(checkpointer=checkpointer or InMemoryCheckpointer(), **compile_kwargs)


@pytest.fixture
def approval_app():
    return build_approval_agent()


def recorder():
    """A list and a node factory whose nodes log their name to it when they run."""
    calls: list[str] = []

    def make(name, result=None):
        def node(state):
            calls.append(name)
            return result

        node.__name__ = name
        return node

    return calls, make
