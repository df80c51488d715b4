"""One contract for every checkpointer (parametrized by the `saver` fixture)."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentflow_nb import (
    AgentState,
    Checkpoint,
    ExecutionStatus,
    FileCheckpointer,
    InMemoryCheckpointer,
    Message,
    ThreadBusyError,
)
from agentflow_nb.checkpointer.base import StateChanges
from agentflow_nb.graph.updates import with_meta


@pytest.fixture(params=["memory", "file"])
def make_saver(request, tmp_path):
    """A factory of fresh, empty checkpointers of one kind."""
    if request.param == "memory":
        return InMemoryCheckpointer
    folders = itertools.count()
    return lambda: FileCheckpointer(tmp_path / f"saver-{next(folders)}")


@pytest.fixture
def saver(make_saver):
    return make_saver()


class Notes(AgentState):
    title: str = ""
    items: list[str] = []
    meta: dict = {}


def run(coro):
    return asyncio.run(coro)


def snapshot(state: AgentState, thread="t", parent=None, step=None, source="run"):
    if step is not None:
        state = with_meta(state, step=step)
    state = with_meta(state, thread_id=thread)
    return Checkpoint.of(state, source=source, parent_id=parent)


def dump(state):
    return state.model_dump(mode="json")


def test_round_trip_restores_the_schema_type_and_values(saver):
    state = Notes(title="x", items=["a"], messages=[Message.text_message("hi")], extra_field=3)
    checkpoint = snapshot(state)
    run(saver.aput(checkpoint))
    loaded = run(saver.aget("t", schema=Notes))
    assert type(loaded.state) is Notes and dump(loaded.state) == dump(checkpoint.state)
    assert loaded.checkpoint_id == checkpoint.checkpoint_id and loaded.source == "run"


def test_copy_in_and_copy_out_nothing_aliases(saver):
    state = Notes(items=["a"], meta={"deep": {"k": 1}})
    run(saver.aput(snapshot(state)))
    state.items.append("changed after saving")
    state.meta["deep"]["k"] = 2
    first = run(saver.aget("t", schema=Notes))
    first.state.items.append("changed after loading")
    first.state.meta["deep"]["k"] = 3
    second = run(saver.aget("t", schema=Notes))
    assert second.state.items == ["a"] and second.state.meta == {"deep": {"k": 1}}
    assert second.state is not first.state


def test_history_is_newest_first_with_position_and_source(saver):
    parent = None
    for step, node in enumerate(["A", "B", "C"], start=1):
        state = with_meta(Notes(title=node), current_node=node, status=ExecutionStatus.RUNNING)
        checkpoint = snapshot(state, parent=parent, step=step, source="edit" if node == "B" else "run")
        run(saver.aput(checkpoint))
        parent = checkpoint.checkpoint_id
    history = run(saver.alist("t", schema=Notes))
    assert [(c.step, c.node, c.source, c.state.title) for c in history] == [
        (3, "C", "run", "C"), (2, "B", "edit", "B"), (1, "A", "run", "A"),
    ]
    assert history[0].created_at >= history[-1].created_at
    assert [c.checkpoint_id for c in run(saver.alist("t", limit=2))] == [c.checkpoint_id for c in history[:2]]


def test_get_by_id_and_unknown_threads(saver):
    first = snapshot(Notes(title="one"))
    run(saver.aput(first))
    run(saver.aput(snapshot(Notes(title="two"), parent=first.checkpoint_id)))
    assert run(saver.aget("t", first.checkpoint_id, schema=Notes)).state.title == "one"
    assert run(saver.aget("t", "no-such-id")) is None
    assert run(saver.aget("other")) is None
    assert run(saver.alist("other")) == []
    assert run(saver.athreads()) == ["t"]


changes_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.lists(st.text(max_size=5), max_size=3)),
        st.tuples(st.just("replace"), st.lists(st.text(max_size=5), max_size=3)),
        st.tuples(st.just("title"), st.text(max_size=5)),
        st.tuples(st.just("extra"), st.integers()),
        st.tuples(st.just("branch"), st.integers(min_value=0, max_value=50)),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=changes_strategy)
def test_saving_only_the_changes_restores_exactly_what_was_saved(make_saver, ops):
    saver = make_saver()
    saved: list[tuple[str, AgentState]] = []
    state = Notes()
    parent_id, parent_state = None, None
    for op, arg in ops:
        if op == "branch" and saved:  # continue from an earlier checkpoint, as a fork does
            parent_id, parent_state = saved[arg % len(saved)]
            state = parent_state
            continue
        if op == "append":
            state = state.model_copy(update={"messages": state.messages + [Message.text_message(t) for t in arg]})
        elif op == "replace":
            state = state.model_copy(update={"messages": [Message.text_message(t) for t in arg]})
        elif op == "title":
            state = state.model_copy(update={"title": arg})
        elif op == "extra":
            state = state.model_copy(update={"counter": arg})
        checkpoint = snapshot(state, parent=parent_id)
        state = checkpoint.state
        changes = StateChanges.between(parent_state, state) if parent_state is not None else None
        run(saver.aput(checkpoint, changes=changes))
        parent_id, parent_state = checkpoint.checkpoint_id, state
        saved.append((parent_id, state))
    for checkpoint_id, expected in saved:
        loaded = run(saver.aget("t", checkpoint_id, schema=Notes))
        assert dump(loaded.state) == dump(expected)


def test_appending_one_message_encodes_only_that_message(saver, monkeypatch):
    from agentflow_nb.checkpointer import codec

    encoded = []
    real = codec.to_json

    def counting(value, **kwargs):  # every store encodes through the shared codec
        items = value if isinstance(value, list) else [value]
        encoded.extend(m.content for m in items if isinstance(m, Message))
        return real(value, **kwargs)

    big = Notes(messages=[Message.text_message(str(i)) for i in range(1000)])
    first = snapshot(big)
    run(saver.aput(first))
    monkeypatch.setattr(codec, "to_json", counting)
    grown = big.model_copy(update={"messages": big.messages + [Message.text_message("new")]})
    run(saver.aput(snapshot(grown, parent=first.checkpoint_id), changes=StateChanges.between(big, grown)))
    assert encoded == ["new"]
    monkeypatch.undo()
    assert len(run(saver.aget("t", schema=Notes)).state.messages) == 1001


def test_a_second_lease_on_a_thread_is_refused(saver):
    async def scenario():
        async with saver.lease("t"):
            assert await saver.ais_running("t")
            with pytest.raises(ThreadBusyError):
                async with saver.lease("t"):
                    pass
        assert not await saver.ais_running("t")

    run(scenario())


def test_stop_requests_only_reach_a_running_thread_and_are_used_once(saver):
    async def scenario():
        assert not await saver.arequest_stop("t")
        async with saver.lease("t"):
            assert await saver.arequest_stop("t")
            assert await saver.aconsume_stop("t")
            assert not await saver.aconsume_stop("t")
            assert await saver.arequest_stop("t")
        async with saver.lease("t"):  # a new run does not inherit the old request
            assert not await saver.aconsume_stop("t")

    run(scenario())


def test_decoding_never_imports_or_calls_what_the_data_names():
    from agentflow_nb.checkpointer.base import decode_state

    fields = {"execution_meta": "{}", "title": '{"__class__": "os.system", "py/object": "os.system"}'}
    with pytest.raises(ValueError, match="title"):
        decode_state(Notes, fields, [])
    loaded = decode_state(AgentState, {"payload": '{"py/reduce": ["os.system", ["echo hacked"]]}'}, [])
    assert loaded.payload == {"py/reduce": ["os.system", ["echo hacked"]]}  # plain data, nothing run
