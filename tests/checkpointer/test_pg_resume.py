"""PgCheckpointer: a run resumes from the head's copy in its thread's row, or from the chain of
checkpoints when there is none (large fields, a thread saved before migration 2)."""

from __future__ import annotations

import asyncio
import json

import psycopg
import pytest

from agentflow_nb import END, START, ExecutionStatus, Message, StateGraph
from agentflow_nb.checkpointer.pg.plan import HEAD_COPY_MAX_BYTES
from agentflow_nb.checkpointer.pg.sql import LATEST, MIGRATIONS, quote_schema
from tests.checkpointer.test_pg_data import Ticket, query


class Doc(Ticket):
    body: str = ""
    extra: dict = {}


def approval_app(saver, copies: list | None = None):
    """EDIT changes a field, drops `extra` back to its default and talks; a pause before SEND.
    With `copies`, EDIT appends whether the thread's row holds a copy of its head's fields."""
    graph = StateGraph(Doc)

    def edit(state):
        if copies is not None:
            copies.append(head_copy(saver.db.conninfo, saver.schema, state.execution_meta.thread_id)[1] is not None)
        return {"counter": state.counter + 1, "body": state.body + "!", "extra": {},
                "messages": [Message.text_message(f"edit {state.counter}", role="assistant")]}

    graph.add_node("EDIT", edit)
    graph.add_node("SEND", lambda s: {"approved": True, "counter": s.counter + 1})
    graph.add_edge(START, "EDIT")
    graph.add_conditional_edges("EDIT", lambda s: "EDIT" if s.counter < 5 else "SEND", {"EDIT": "EDIT", "SEND": "SEND"})
    graph.add_edge("SEND", END)
    return graph.compile(checkpointer=saver, interrupt_before=["SEND"])


def head_copy(dsn: str, schema: str, thread: str):
    return query(dsn, f'SELECT head, head_names, owner FROM "{schema}".threads WHERE thread_id = %s', thread)[0]


@pytest.mark.parametrize("body", ["short", "x" * (HEAD_COPY_MAX_BYTES + 1)])
def test_a_paused_thread_resumes_in_a_new_store_as_it_was_saved(make_pg, pg_dsn, body):
    saver = make_pg()
    app = approval_app(saver)
    config = {"thread_id": "doc"}
    app.invoke({"body": body, "extra": {"k": 1}, "messages": [Message.text_message("draft")]}, config=config)
    paused = app.get_state(config)
    head, names, owner = head_copy(pg_dsn, saver.schema, "doc")
    assert head == paused.checkpoint_id and owner is None  # the pause's write ended the lease
    assert (names is not None) is (len(body) < HEAD_COPY_MAX_BYTES)  # large fields: no copy

    fresh = approval_app(make_pg(saver.schema))  # a new process: nothing cached
    assert fresh.get_state(config).state == paused.state
    done = fresh.invoke({}, config=config)
    assert done["status"] is ExecutionStatus.COMPLETED and done["state"].approved
    assert done["state"].model_dump(exclude={"execution_meta", "approved", "counter"}) == \
        paused.state.model_dump(exclude={"execution_meta", "approved", "counter"})
    assert [m.content for m in done["messages"]] == ["draft", *(f"edit {i}" for i in range(5))]
    again = approval_app(make_pg(saver.schema)).get_state(config)
    assert again.checkpoint_id == done["checkpoint_id"] and again.state == done["state"]
    assert head_copy(pg_dsn, saver.schema, "doc")[2] is None


def test_the_copy_is_kept_where_the_thread_rests_and_agrees_with_the_checkpoint_rows(make_pg, pg_dsn):
    saver = make_pg()
    copies: list[bool] = []
    app = approval_app(saver, copies)
    config = {"thread_id": "doc"}
    app.invoke({"body": "b", "extra": {"k": 1}}, config=config)
    app.update_state(config, {"note": "checked"})
    app.invoke({}, config=config)
    s = saver.schema
    (copy,) = query(pg_dsn, f'SELECT head_names, head_values, head_n FROM "{s}".threads WHERE thread_id = %s', "doc")
    (newest,) = asyncio.run(make_pg(s).alist("doc", schema=Doc, limit=1))  # read through the chain of rows
    from_copy = Doc.model_validate({name: json.loads(text) for name, text in zip(copy[0], copy[1], strict=True)})
    assert from_copy.model_dump(exclude={"messages"}) == newest.state.model_dump(exclude={"messages"})
    assert copy[2] == len(newest.state.messages)
    assert copies == [False] * 5  # a running thread's row holds no copy (its steps rewrite it)


def test_a_thread_saved_before_migration_2_resumes_after_it(make_pg, pg_dsn, pg_schemas):
    schema = pg_schemas()
    s = quote_schema(schema)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:  # the tables as migration 1 left them
        conn.execute(f"CREATE SCHEMA {s}")
        conn.execute(f"CREATE TABLE {s}.schema_versions (version integer PRIMARY KEY, description text NOT NULL, "
                     "applied_at timestamptz NOT NULL DEFAULT now())")
        conn.execute(MIGRATIONS[0][2].replace("{s}", s))
        conn.execute(f"INSERT INTO {s}.schema_versions (version, description) VALUES (1, 'v1')")
    app = approval_app(make_pg(schema))
    config = {"thread_id": "doc"}
    app.invoke({"body": "b"}, config=config)  # migrates on first use
    assert [v for (v,) in query(pg_dsn, f"SELECT version FROM {s}.schema_versions ORDER BY 1")] == \
        list(range(1, LATEST + 1))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:  # as a thread saved by version 1 would be
        conn.execute(f"UPDATE {s}.threads SET head_names = NULL, head_values = NULL, head_parent = NULL, "
                     "head_source = NULL, head_at = NULL, head_base = NULL, head_snap_bytes = NULL, "
                     "head_chain_bytes = NULL, head_log = NULL, head_n = NULL")
    done = approval_app(make_pg(schema)).invoke({}, config=config)
    assert done["status"] is ExecutionStatus.COMPLETED and done["state"].counter == 6
    assert head_copy(pg_dsn, schema, "doc")[1] is not None  # the run's write made the copy
