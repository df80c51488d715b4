"""PgCheckpointer's cold start: which servers it connects to early, what a failed early start
leaves to the first statement, statements numbered once for every schema, and the resumed
run's first write prepared on the server while the run loads the head."""

from __future__ import annotations

import psycopg
import pytest

from agentflow_nb import END, START, Message, StateGraph
from agentflow_nb.checkpointer import PgCheckpointer
from agentflow_nb.checkpointer.pg import wire
from agentflow_nb.checkpointer.pg.connect import _by_address
from agentflow_nb.checkpointer.pg.runs import numbered
from agentflow_nb.checkpointer.pg.sql import Statements
from tests.checkpointer.test_pg_data import Ticket


@pytest.mark.parametrize(("dsn", "early"), [
    ("postgresql://agentflow@127.0.0.1:5432/postgres", True),
    ("postgres://u:secret@localhost/db", True),
    ("postgresql://[::1]:5432/db", True),
    ("postgresql://%2Fvar%2Frun%2Fpostgresql/db", True),  # a socket folder
    ("postgresql:///db", True),  # libpq's default socket (PGHOST is cleared below)
    ("postgresql://10.0.0.1:5432,10.0.0.2:5433/db", True),
    ("postgresql://db.example.com/db", False),  # a name: psycopg looks it up, not libpq
    ("postgresql://10.0.0.1:5432,db.example.com:5433/db", False),
    ("postgresql://u@127.0.0.1/db?host=db.example.com", False),  # the query string wins
    ("postgresql://u@db.example.com/db?hostaddr=10.0.0.1", True),
    ("host=127.0.0.1 port=5432 dbname=db", True),
    ("host=db.example.com dbname=db", False),
])
def test_only_a_server_given_by_address_is_connected_to_early(monkeypatch, dsn, early):
    monkeypatch.delenv("PGHOST", raising=False)
    monkeypatch.delenv("PGHOSTADDR", raising=False)
    assert _by_address(psycopg, dsn) is early


def test_a_server_that_refuses_the_early_connection_is_reported_by_the_first_statement(pg_dsn):
    closed_port = psycopg.conninfo.conninfo_to_dict(pg_dsn) | {"port": "1"}
    store = PgCheckpointer(psycopg.conninfo.make_conninfo(**closed_port), retry_seconds=0)
    try:
        with pytest.raises(psycopg.OperationalError, match="(?i)refused|port 1"):
            store.threads()
    finally:
        store.close()


@pytest.mark.parametrize("schema", ["agentflow", "t_Mixed_9", "a" * 63])
def test_statements_numbered_once_are_those_numbered_for_each_schema(schema):
    for name in ("acquire", "write_fields", "write_append", "write"):
        made = wire.Statement(getattr(Statements(schema), name))
        taken = numbered(name, schema)
        assert (taken.sql, taken.order, taken.name) == (made.sql, made.order, made.name)


def _paused_app(saver, talk: bool):
    """WORK, then a pause before SEND; with `talk` each node adds a message (a conversation)."""

    def said(text: str) -> dict:
        return {"messages": [Message.text_message(text, role="assistant")]} if talk else {}

    graph = StateGraph(Ticket)
    graph.add_node("WORK", lambda s: {"counter": s.counter + 1, **said("worked")})
    graph.add_node("SEND", lambda s: {"approved": True, **said("sent")})
    graph.add_edge(START, "WORK")
    graph.add_edge("WORK", "SEND")
    graph.add_edge("SEND", END)
    return graph.compile(checkpointer=saver, interrupt_before=["SEND"])


@pytest.mark.parametrize(("talk", "shape"), [(False, "write_fields"), (True, "write_append")])
def test_a_resumed_runs_first_write_is_prepared_with_the_lease_and_used(
    make_pg, pg_schemas, monkeypatch, talk, shape
):
    schema = pg_schemas()
    _paused_app(make_pg(schema), talk).invoke({"counter": 0}, config={"thread_id": "t"})
    resumer = make_pg(schema, max_connections=1)  # a new session, as a new process has
    expected = numbered(shape, schema)
    seen: list[list[str]] = []
    real = wire.execute

    def execute(conn, statement, values, **kwargs):  # the session's prepared statements at the write
        if statement.sql == expected.sql:
            wire.settle(conn)
            seen.append([row[0] for row in conn.execute("SELECT name FROM pg_prepared_statements").fetchall()])
        return real(conn, statement, values, **kwargs)

    monkeypatch.setattr(wire, "execute", execute)
    result = _paused_app(resumer, talk).invoke({}, config={"thread_id": "t"})
    assert result["state"].approved and result["state"].counter == 1
    assert seen == [[expected.name.decode()]]
