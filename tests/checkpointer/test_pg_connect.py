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


def test_bad_arguments_are_refused_before_connecting_and_good_ones_connect_first(pg_dsn, monkeypatch):
    from agentflow_nb.checkpointer.pg import connect, store

    order: list[str] = []
    start, statements = connect.Primed.start.__func__, store.Statements

    def started(cls, *args):
        order.append("connect")
        return start(cls, *args)

    def built(schema):
        order.append("statements")
        return statements(schema)

    monkeypatch.setattr(connect.Primed, "start", classmethod(started))
    monkeypatch.setattr(store, "Statements", built)
    with pytest.raises(ValueError, match="not a plain name"):
        PgCheckpointer(pg_dsn, schema='x"; DROP TABLE t; --')
    with pytest.raises(ValueError, match="lease_seconds"):
        PgCheckpointer(pg_dsn, lease_seconds=-1)
    assert order == []
    PgCheckpointer(pg_dsn, schema="fine").close()
    assert order == ["connect", "statements"]  # the server sets the connection up meanwhile


def test_the_renewal_thread_is_started_before_the_lease_is_asked_for(make_pg, monkeypatch):
    saver = make_pg()
    app = _paused_app(saver, talk=False)
    started_at_lease: list[bool] = []
    real = wire.execute

    def execute(conn, statement, values, **kwargs):
        if statement.sql == saver._acquire_statement.sql:
            started_at_lease.append(saver.leases._started)
        return real(conn, statement, values, **kwargs)

    monkeypatch.setattr(wire, "execute", execute)
    app.invoke({"counter": 0}, config={"thread_id": "t"})
    assert started_at_lease and all(started_at_lease)  # (asked twice on a new schema: before and after migrating)
    assert app.invoke({}, config={"thread_id": "t"})["state"].approved


def test_a_store_that_cannot_confirm_the_newest_checkpoint_gets_no_kept_copy(make_pg):
    from agentflow_nb import InMemoryCheckpointer

    on_pg, in_memory = _paused_app(make_pg(), talk=True), _paused_app(InMemoryCheckpointer(), talk=True)
    for app in (on_pg, in_memory):
        app.invoke({"counter": 0}, config={"thread_id": "t"})
    assert not on_pg._kept  # PostgreSQL cannot say `ahead` cheaply: a copy would never be used
    assert list(in_memory._kept) == ["t"]
    result = on_pg.invoke({}, config={"thread_id": "t"})
    assert result["state"].approved and [m.content for m in result["messages"]] == ["worked", "sent"]


def test_compiling_builds_the_state_decoder_a_first_load_needs(make_pg):
    from agentflow_nb.checkpointer import codec

    class Fresh(Ticket):
        note: str = ""

    assert Fresh not in codec._validators
    graph = StateGraph(Fresh)
    graph.add_node("WORK", lambda s: {"counter": s.counter + 1})
    graph.add_edge(START, "WORK").add_edge("WORK", END)
    app = graph.compile(checkpointer=make_pg())
    assert Fresh in codec._validators
    assert app.invoke({"note": "n"}, config={"thread_id": "t"})["state"].counter == 1
