"""Shared fixtures: small graphs built from deterministic stand-in nodes (no LLM), and the
PostgreSQL server the `PgCheckpointer` tests use."""

from __future__ import annotations

import os
import uuid

import pytest

from agentflow_nb import END, START, FileCheckpointer, InMemoryCheckpointer, Message, StateGraph

CHECKPOINTERS = ["memory", "file", "pg"]


@pytest.fixture(scope="session")
def pg_dsn():
    """A PostgreSQL server for the whole test session: AGENTFLOW_PG_DSN if set, else a throwaway
    cluster on 127.0.0.1 (a free port) that is stopped and deleted at the end, also on failure."""
    given = os.environ.get("AGENTFLOW_PG_DSN")
    if given:
        yield given
        return
    from agentflow_nb.checkpointer.pg import LocalCluster

    cluster = LocalCluster(durable=False)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def pg_schemas(pg_dsn):
    """A factory of fresh schema names, each dropped (with its tables) after the test."""
    import psycopg

    made: list[str] = []

    def make() -> str:
        made.append(f"t_{uuid.uuid4().hex[:12]}")
        return made[-1]

    yield make
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for schema in made:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def make_pg(pg_dsn, pg_schemas):
    """A factory of `PgCheckpointer`s (each closed after the test); same schema when given."""
    from agentflow_nb.checkpointer import PgCheckpointer

    opened = []

    def make(schema: str | None = None, **kwargs):
        saver = PgCheckpointer(pg_dsn, schema=schema or pg_schemas(), **kwargs)
        opened.append(saver)
        return saver

    yield make
    for saver in opened:
        saver.close()


def make_checkpointer(kind: str, request, path):
    """A fresh, empty checkpointer of `kind`."""
    if kind == "memory":
        return InMemoryCheckpointer()
    if kind == "file":
        return FileCheckpointer(path)
    return request.getfixturevalue("make_pg")()


@pytest.fixture(params=CHECKPOINTERS)
def saver(request, tmp_path):
    """Each checkpointer in turn, empty."""
    return make_checkpointer(request.param, request, tmp_path / "threads")


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
