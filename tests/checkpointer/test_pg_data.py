"""PgCheckpointer's storage: what a step writes, what a load reads, retention, listing, bad input."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from pydantic import ValidationError

from agentflow_nb import (
    END,
    START,
    AgentState,
    ExecutionStatus,
    Message,
    NodeError,
    StateGraph,
    UnsaveableValueError,
)
from agentflow_nb.checkpointer.pg import CorruptCheckpointError
from agentflow_nb.checkpointer.pg.sql import MAX_CHAIN
from tests.checkpointer.pg_workers import own_conversation_app
from tests.conftest import build_approval_agent

ROOT = Path(__file__).resolve().parents[2]
START_INPUT = {"messages": [Message.text_message("refund 30")]}


class Ticket(AgentState):
    counter: int = 0
    note: str = ""
    approved: bool = False


def loop_app(saver, steps: int, *, talk: bool = False):
    """A STEP node looping `steps` times; with `talk`, each step also appends a message."""
    graph = StateGraph(Ticket)

    def step(state):
        update = {"counter": state.counter + 1}
        if talk:
            update["messages"] = [Message.text_message(f"line {state.counter}", role="assistant")]
        return update

    graph.add_node("STEP", step)
    graph.add_edge(START, "STEP")
    graph.add_conditional_edges("STEP", lambda s: "STEP" if s.counter < steps else END, {"STEP": "STEP", END: END})
    return graph.compile(checkpointer=saver)


def query(dsn: str, sql: str, *args):
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, args).fetchall()


def test_a_step_writes_its_new_message_and_changed_fields_only(make_pg, pg_dsn):
    saver = make_pg()
    app = loop_app(saver, 1_000, talk=True)
    history = [Message.text_message(f"earlier {i}") for i in range(2_000)]
    config = {"thread_id": "long", "recursion_limit": 2_000}
    app.invoke({"messages": history}, config=config)
    s = saver.schema
    (rows,) = query(pg_dsn, f'SELECT count(*), count(DISTINCT log) FROM "{s}".messages')
    assert rows == (3_000, 1)  # every message stored once, in one log: nothing copied or rewritten
    deltas = query(pg_dsn, f'SELECT field_names FROM "{s}".checkpoints WHERE NOT snap AND node = %s', "STEP")
    assert deltas and all(sorted(names) == ["counter", "execution_meta"] for (names,) in deltas)
    loaded = app.get_state(config)
    assert len(loaded.state.messages) == 3_000 and loaded.state.counter == 1_000


def test_a_resume_reads_a_bounded_number_of_rows_and_history_puts_its_limit_in_sql(make_pg):
    saver = make_pg()
    app = loop_app(saver, 300)
    config = {"thread_id": "t", "recursion_limit": 400}
    app.invoke({"counter": 0}, config=config)

    def rows(statement, **params):
        return saver.db.run(lambda cur: (cur.execute(statement, {"thread": "t", **params}), cur.fetchall())[1])

    assert 1 <= len(rows(saver.sql.get_head)) <= MAX_CHAIN + 1
    assert len(rows(saver.sql.list_rows, limit=3)) <= 3 + MAX_CHAIN
    assert len(rows(saver.sql.list_rows, limit=None)) == 301  # the input, then 300 steps
    newest = app.get_state_history(config, limit=3)
    assert [c.state.counter for c in newest] == [300, 299, 298]
    everything = app.get_state_history(config)
    assert [c.state.counter for c in everything] == list(range(300, -1, -1))


def test_branches_from_old_checkpoints_keep_each_branch_intact(make_pg):
    saver = make_pg()
    app = loop_app(saver, 6, talk=True)
    config = {"thread_id": "t", "recursion_limit": 20}
    app.invoke({"counter": 0}, config=config)
    old = app.get_state_history(config)[4]  # counter 2, three messages
    replay = app.invoke({"note": "replayed"}, config={**config, "checkpoint_id": old.checkpoint_id})
    assert replay["state"].counter == 6 and replay["state"].note == "replayed"
    assert [m.content for m in replay["messages"]] == [f"line {i}" for i in range(6)]
    for checkpoint in app.get_state_history(config):  # every checkpoint of both branches loads whole
        assert len(checkpoint.state.messages) == checkpoint.state.counter


def test_threads_by_status_lists_the_paused_ones(make_pg):
    saver = make_pg()
    app = build_approval_agent(saver)
    for name in ("b", "a", "c"):
        app.invoke(START_INPUT, config={"thread_id": name})
    app.update_state({"thread_id": "c"}, {"messages": [Message.text_message("APPROVED")]})
    app.invoke({}, config={"thread_id": "c"})
    assert saver.threads(status=ExecutionStatus.INTERRUPTED_BEFORE) == ["a", "b"]
    assert saver.threads(status=["completed", "interrupted_before"]) == ["a", "b", "c"]
    assert asyncio.run(saver.athreads(status="completed")) == ["c"]
    assert saver.threads() == ["a", "b", "c"]
    with pytest.raises(ValueError, match="did you mean `interrupted_before`"):
        saver.threads(status="interupted_before")


def test_prune_keeps_the_last_n_and_whatever_a_pause_or_fork_needs(make_pg):
    saver = make_pg()
    graph = StateGraph(Ticket)
    graph.add_node("STEP", lambda s: {"counter": s.counter + 1})
    graph.add_node("PAY", lambda s: {"approved": True})
    graph.add_edge(START, "STEP")
    graph.add_conditional_edges("STEP", lambda s: "STEP" if s.counter < 80 else "PAY", {"STEP": "STEP", "PAY": "PAY"})
    graph.add_edge("PAY", END)
    app = graph.compile(checkpointer=saver, interrupt_before=["PAY"])
    config = {"thread_id": "t", "recursion_limit": 100}
    app.invoke({"counter": 0}, config=config)
    early = app.get_state_history(config)[70]
    forked = app.fork({**config, "checkpoint_id": early.checkpoint_id}, new_thread_id="fork")
    removed = saver.prune(config, keep_last=3)
    kept = app.get_state_history(config)
    assert removed > 0 and len(kept) + removed == 82  # the input, 80 steps, the pause
    assert kept[0].status is ExecutionStatus.INTERRUPTED_BEFORE  # the pause is still there
    assert early.checkpoint_id in {c.checkpoint_id for c in kept}  # the fork's origin too
    assert all(c.state.counter <= 80 for c in kept)  # every kept checkpoint still loads
    assert app.invoke({}, config=config)["state"].approved  # and the pause resumes
    assert app.get_state(forked).state.counter == early.state.counter
    with pytest.raises(ValueError, match="keep_last"):
        saver.prune(config, keep_last=0)


def test_invalid_edits_and_hostile_thread_ids_save_nothing_or_round_trip(make_pg):
    saver = make_pg()
    app = build_approval_agent(saver)
    hostile = "x'); DROP TABLE threads; --\"\\ é 🦜"
    config = {"thread_id": hostile}
    app.invoke(START_INPUT, config=config)
    before = app.get_state_history(config)
    with pytest.raises(ValidationError):
        app.update_state(config, {"messages": "not a list"})
    assert [c.checkpoint_id for c in app.get_state_history(config)] == [c.checkpoint_id for c in before]
    assert saver.threads() == [hostile]
    assert app.get_state(config).state.execution_meta.thread_id == hostile
    with pytest.raises(ValueError, match="NUL"):
        app.invoke(START_INPUT, config={"thread_id": "a\x00b"})


def test_a_ten_megabyte_field_is_refused_with_its_name_and_nothing_saved(make_pg):
    saver = make_pg()
    app = build_approval_agent(saver)
    config = {"thread_id": "t"}
    app.invoke(START_INPUT, config=config)
    before = app.get_state(config)
    with pytest.raises(UnsaveableValueError, match=r"field `report` is 10\.0 MB.*max_value_bytes"):
        app.update_state({**config, "new_fields": ["report"]}, {"report": "x" * 10_000_000})
    assert app.get_state(config).checkpoint_id == before.checkpoint_id

    graph = StateGraph()
    graph.add_node("BIG", lambda s: {"report": "y" * 10_000_000})
    graph.add_edge(START, "BIG").add_edge("BIG", END)
    big = graph.compile(checkpointer=saver)
    with pytest.raises(NodeError, match=r"node `BIG` left a value the checkpointer refuses: field `report`"):
        big.invoke(START_INPUT, config={"thread_id": "big"})
    failed = big.get_state({"thread_id": "big"})
    assert failed.status is ExecutionStatus.ERROR and "report" not in failed.state.model_dump()

    roomy = build_approval_agent(make_pg(max_value_bytes=None))
    roomy.invoke(START_INPUT, config=config)
    roomy.update_state({**config, "new_fields": ["report"]}, {"report": "z" * 10_000_000})
    assert roomy.get_state(config).state.report == "z" * 10_000_000


def test_rows_damaged_by_hand_are_an_error_naming_the_checkpoint(make_pg, pg_dsn):
    saver = make_pg()
    app = loop_app(saver, 10)
    for thread in ("t", "u"):
        app.invoke({"counter": 0}, config={"thread_id": thread, "recursion_limit": 20})
    s, head = saver.schema, app.get_state({"thread_id": "t"})
    middle, later = app.get_state_history({"thread_id": "u"}, limit=4)[3:1:-1]
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'UPDATE "{s}".checkpoints SET field_values[1] = %s WHERE checkpoint_id = %s',
                     ('{"broken"', head.checkpoint_id))
        conn.execute(f'DELETE FROM "{s}".checkpoints WHERE checkpoint_id = %s', (middle.checkpoint_id,))
    fresh = make_pg(s)  # nothing cached
    with pytest.raises(CorruptCheckpointError, match=f"checkpoint `{head.checkpoint_id}`.*does not load"):
        asyncio.run(fresh.aget("t", schema=Ticket))
    with pytest.raises(CorruptCheckpointError, match=f"parent `{middle.checkpoint_id}` is missing"):
        asyncio.run(fresh.aget("u", later.checkpoint_id, schema=Ticket))


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ("UPDATE {t} SET field_values = field_values[1:1] WHERE checkpoint_id = %s", "field names but 1 values"),
        ("UPDATE {t} SET field_values[1] = NULL WHERE checkpoint_id = %s", "a NULL field name or value"),
        ("UPDATE {t} SET source = 'hack' WHERE checkpoint_id = %s", "source `hack`"),
        ("UPDATE {t} SET status = 'gone' WHERE checkpoint_id = %s", "status `gone`"),
        ("UPDATE {t} SET base_seq = seq + 5 WHERE checkpoint_id = %s", "missing from .* or damaged"),
        ("DELETE FROM {t} WHERE checkpoint_id = %s", "missing from .* or damaged"),
    ],
)
def test_forged_rows_are_a_clear_error_and_a_run_never_starts_the_thread_over(make_pg, pg_dsn, damage, problem):
    """Reads of a damaged row say which; a run resumes from the head's copy in the thread's row
    (it never reads the damaged row), and what it writes never builds on that row."""
    saver = make_pg()
    app = loop_app(saver, 5)
    config = {"thread_id": "t", "recursion_limit": 20}
    app.invoke({"counter": 0}, config=config)
    head = app.get_state(config)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(damage.format(t=f'"{saver.schema}".checkpoints'), (head.checkpoint_id,))
    fresh = loop_app(make_pg(saver.schema), 5)  # a new process: nothing cached
    with pytest.raises(CorruptCheckpointError, match=f"`{head.checkpoint_id}`.*{problem}"):
        fresh.get_state(config)
    if "DELETE" not in damage and "base_seq" not in damage:
        with pytest.raises(CorruptCheckpointError, match=problem):
            fresh.get_state_history(config)
    result = fresh.invoke({"counter": 0}, config=config)
    assert result["status"] is ExecutionStatus.COMPLETED and result["step"] > head.step  # continued, not new
    again = loop_app(make_pg(saver.schema), 5).get_state(config)  # another process reads the new head
    assert again.checkpoint_id == result["checkpoint_id"] and again.state.counter == result["state"].counter
    if "DELETE" not in damage and "base_seq" not in damage:
        with pytest.raises(CorruptCheckpointError, match=f"`{head.checkpoint_id}`.*{problem}"):
            fresh.get_state(config | {"checkpoint_id": head.checkpoint_id})  # the damage is still reported


def test_an_edit_naming_no_field_is_refused_and_errors_name_only_the_callers_thread(make_pg):
    from agentflow_nb import UnknownFieldError, UnknownThreadError

    saver = make_pg()
    app = loop_app(saver, 2)
    config = {"thread_id": "bob", "recursion_limit": 10}
    app.invoke({"counter": 0}, config=config)
    app.invoke({"counter": 0}, config={"thread_id": "alice-secret-thread", "recursion_limit": 10})
    before = app.get_state(config).checkpoint_id
    with pytest.raises(UnknownFieldError, match="countr.*did you mean `counter`") as typo:
        app.update_state(config, {"countr": 5})
    assert app.get_state(config).checkpoint_id == before
    with pytest.raises(UnknownThreadError) as unknown:
        app.invoke(None, config={"thread_id": "carol"})
    for error in (typo.value, unknown.value):
        assert "alice" not in str(error)


def test_a_subgraphs_own_conversation_stays_apart_when_another_process_resumes(make_pg, pg_dsn):
    saver = make_pg()
    app = own_conversation_app(saver)
    config = {"thread_id": "t"}
    app.invoke({"messages": [Message.text_message("hi")]}, config=config)
    paused = app.get_state(config)
    assert [m.content for m in paused.state_at("WRITER").messages] == ["inner note"]
    done = subprocess.run([sys.executable, "-m", "tests.checkpointer.pg_workers", "resume_own", pg_dsn,
                           saver.schema, "t"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["status"] == "completed" and seen["root"][0] == ["hi", "done after 1"]
    assert all(root in (["hi"], ["hi", "done after 1"]) for root in seen["root"][1:])  # never WRITER's
    assert seen["writer"] == [["inner note", "review of 1"], ["inner note"], ["inner note"]]
    fresh = own_conversation_app(make_pg(saver.schema))  # and as this process reads it back
    assert [m.content for m in fresh.get_state(config).state.messages] == ["hi", "done after 1"]
    assert [m.content for m in fresh.get_state(config | {"checkpoint_id": paused.checkpoint_id})
            .state_at("WRITER").messages] == ["inner note"]


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ("DELETE FROM {s}.messages WHERE idx = 0", "names 3 messages, but .* rebuilds 2"),
        ("UPDATE {s}.checkpoints SET n = n + 2 WHERE checkpoint_id = %(head)s", "names 5 messages, but .* rebuilds 3"),
        # the head's copy in the thread's row, which a resuming run reads instead
        ("UPDATE {s}.threads SET head_n = head_n + 2 WHERE head = %(head)s", "names 5 messages, but .* rebuilds 3"),
    ],
)
def test_message_rows_deleted_or_a_forged_count_are_an_error_never_a_shorter_conversation(
    make_pg, pg_dsn, damage, problem
):
    saver = make_pg()
    app = loop_app(saver, 2, talk=True)
    config = {"thread_id": "t", "recursion_limit": 20}
    app.invoke({"messages": [Message.text_message("start")]}, config=config)
    head = app.get_state(config)
    assert len(head.state.messages) == 3
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(damage.format(s=f'"{saver.schema}"'), {"head": head.checkpoint_id})
    fresh = loop_app(make_pg(saver.schema), 2, talk=True)  # a new process: nothing cached
    before = query(pg_dsn, f'SELECT count(*) FROM "{saver.schema}".checkpoints')
    reads = [lambda: fresh.get_state(config), lambda: fresh.invoke({}, config=config),
             lambda: fresh.get_state_history(config, limit=1)]
    if "checkpoints" in damage:  # the run reads the copy; threads damage is seen by the run only
        del reads[1]
    elif "threads" in damage:
        reads = reads[1:2]
    for read in reads:
        with pytest.raises(CorruptCheckpointError, match=f"checkpoint `{head.checkpoint_id}`.*{problem}"):
            read()
    assert query(pg_dsn, f'SELECT count(*) FROM "{saver.schema}".checkpoints') == before  # nothing saved


def test_history_of_a_thread_whose_head_row_was_deleted_is_an_error(make_pg, pg_dsn):
    saver = make_pg()
    app = loop_app(saver, 3)
    config = {"thread_id": "t", "recursion_limit": 20}
    app.invoke({"counter": 0}, config=config)
    app.invoke({"counter": 0}, config={"thread_id": "gone", "recursion_limit": 20})
    head = app.get_state(config)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DELETE FROM "{saver.schema}".checkpoints WHERE checkpoint_id = %s', (head.checkpoint_id,))
        conn.execute(f'DELETE FROM "{saver.schema}".checkpoints WHERE thread_id = %s', ("gone",))
    fresh = loop_app(make_pg(saver.schema), 3)
    for limit in (None, 1, 2):
        with pytest.raises(CorruptCheckpointError, match=f"head checkpoint `{head.checkpoint_id}`"):
            fresh.get_state_history(config, limit=limit)
    with pytest.raises(CorruptCheckpointError, match="thread `gone` has head checkpoint"):
        fresh.get_state_history({"thread_id": "gone"})
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DELETE FROM "{saver.schema}".threads WHERE thread_id = %s', ("t",))
    with pytest.raises(CorruptCheckpointError, match=f"thread `t` has checkpoints in `{saver.schema}.checkpoints` but no row"):
        fresh.get_state_history(config)
    before = query(pg_dsn, f'SELECT count(*) FROM "{saver.schema}".checkpoints')
    with pytest.raises(CorruptCheckpointError, match=f"thread `t` has checkpoints .* but its row in `{saver.schema}.threads`"):
        fresh.invoke({"counter": 0}, config=config)  # looks new, but its seqs are taken: never a mix
    assert query(pg_dsn, f'SELECT count(*) FROM "{saver.schema}".checkpoints') == before


def test_history_read_while_another_process_prunes_is_whole(make_pg, pg_dsn):
    """History reads rows, then their messages: a prune committed in between (by another
    store, on its own connection) must neither cut messages short nor look like damage."""
    saver = make_pg()
    steps = MAX_CHAIN + 8
    app = loop_app(saver, steps, talk=True)
    config = {"thread_id": "t", "recursion_limit": 3 * steps}
    app.invoke({"counter": 0}, config=config)
    replay = app.get_state_history(config)[-3]  # counter 2: a branch, on a new message log, whose
    app.invoke({"note": "b"}, config={**config, "checkpoint_id": replay.checkpoint_id})  # head is far
    [(logs,)] = query(pg_dsn, f'SELECT count(DISTINCT log) FROM "{saver.schema}".messages')  # from log 1
    pruner, pruned = make_pg(saver.schema), []

    class PruneBetweenReads:
        """`saver.sql`, but reading `list_messages` (between history's two reads) prunes first."""

        def __getattr__(self, name):
            if name == "list_messages" and not pruned:
                pruned.append(pruner.prune(config, keep_last=1))
            return getattr(saver.sql, name)

    reader = make_pg(saver.schema)
    reader.sql = PruneBetweenReads()
    history = loop_app(reader, steps, talk=True).get_state_history(config)
    assert pruned[0] > 0 and len(history) >= 2 * steps
    assert all(len(c.state.messages) == c.state.counter for c in history)
    assert len(app.get_state_history(config)) < len(history)  # the prune did commit, and it took
    assert query(pg_dsn, f'SELECT count(DISTINCT log) FROM "{saver.schema}".messages')[0][0] < logs  # a log
