"""One contract for every checkpointer (parametrized by the `saver` fixture)."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import enum
import itertools
import tempfile

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
from agentflow_nb.checkpointer.values import MAX_DEPTH
from agentflow_nb.errors import UnsaveableValueError
from agentflow_nb.graph.updates import with_meta
from tests.conftest import CHECKPOINTERS, make_checkpointer


@pytest.fixture(params=CHECKPOINTERS)
def make_saver(request, tmp_path):
    """A factory of fresh, empty checkpointers of one kind."""
    folders = itertools.count()
    return lambda: make_checkpointer(request.param, request, tmp_path / f"saver-{next(folders)}")


@pytest.fixture
def saver(make_saver):
    return make_saver()


class Shade(enum.Enum):
    RED = "red"
    BLUE = "blue"


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


# -- every store round-trips a value or refuses it when it is saved ------------------------------


class Typed(AgentState):
    when: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    tags: set[str] = set()
    pair: tuple[int, str] = (0, "")
    amount: decimal.Decimal = decimal.Decimal("0")
    color: Shade = Shade.RED
    table: dict[int, list[float]] = {}
    loose: dict = {}
    score: float = 0.0
    name: str = ""


def nested(depth: int, leaf=1):
    value = leaf
    for _ in range(depth - 1):
        value = {"a": value}
    return {"a": value} if depth else value


def save_one(saver, state, thread="t", parent=None, changes=None):
    checkpoint = snapshot(state, thread=thread, parent=parent)
    run(saver.aput(checkpoint, changes=changes))
    return checkpoint


ROUND_TRIPS = {
    "class-path keys in an extra": {"payload": {"__class__": "os.system", "py/object": "x", "__reduce__": [1]}},
    "class-path keys in a typed dict": {"loose": {"py/object": "subprocess.Popen", "__class__": "eval"}},
    f"an extra nested {MAX_DEPTH} deep": {"deep": nested(MAX_DEPTH)},
    "a 4,300-digit integer": {"big": int("9" * 4300), "score": 1.5},
    "NaN and infinity": {"nan": float("nan"), "score": float("-inf"), "loose": {"x": float("inf")}},
    "typed values JSON changes": {
        "when": dt.datetime(2026, 5, 1, 12, tzinfo=dt.timezone.utc), "tags": {"a", "b"}, "pair": (3, "x"),
        "amount": decimal.Decimal("12.50"), "color": Shade.BLUE, "table": {1: [0.5]},
    },
    "non-ASCII text": {"name": "résumé ✓ 東京", "payload": {"ключ": "значение"}},
}


@pytest.mark.parametrize("values", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_what_a_store_saves_loads_back_exactly(saver, values):
    state = Typed(**values, messages=[Message.text_message("hi", **{"py/object": "x", "when": "later"})])
    run(saver.aput(snapshot(state)))
    loaded = run(saver.aget("t", schema=Typed)).state
    for name, value in values.items():
        got = getattr(loaded, name)
        assert got == value or (value != value and got != got), name  # NaN: NaN
        assert type(got) is type(value), name
    assert loaded.messages[0].metadata == {"py/object": "x", "when": "later"}


def surrogate_in_meta(state):
    return with_meta(state, interrupt_reason="bad \ud800 reason")


REFUSALS = [
    ("datetime extra", {"stamp": dt.datetime(2026, 1, 1)}, "stamp", "is a `datetime`, which JSON would give back as a `str`"),
    ("set extra", {"seen": {1, 2}}, "seen", "is a `set`, which JSON would give back as a list"),
    ("tuple inside an extra", {"data": {"pair": (1, 2)}}, "data.pair", "is a `tuple`, which JSON would give back as a list"),
    ("bytes extra", {"blob": b"\x00\xff"}, "blob", "is a `bytes`"),
    ("decimal extra", {"money": decimal.Decimal("1.10")}, "money", "is a `Decimal`, which JSON would give back as a `str`"),
    ("enum extra", {"shade": Shade.RED}, "shade", "is a `Shade` member"),
    ("model extra", {"inner": Typed()}, "inner", "is a `Typed`, which JSON would give back as a plain dict"),
    ("int key", {"counts": {1: "one"}}, "counts[1]", "has a `int` key"),
    ("too deep extra", {"deep": nested(MAX_DEPTH + 1)}, "deep" + ".a" * MAX_DEPTH, f"deeper than {MAX_DEPTH} levels"),
    ("too deep typed dict", {"loose": nested(MAX_DEPTH + 1)}, "loose", f"deeper than {MAX_DEPTH} levels"),
    ("big int extra", {"big": 10**4300}, "big", "more than 4,300 digits"),
    ("big int in a typed list", {"table": {1: [0.5]}, "big_list": [1, 10**4301]}, "big_list[1]", "more than 4,300 digits"),
    ("lone surrogate extra", {"text": "a\ud800b"}, "text", "lone surrogate"),
    ("lone surrogate typed", {"name": "x\udfffy"}, "name", "lone surrogate"),
    ("lone surrogate key", {"data": {"k\ud800": 1}}, "data (a key)", "lone surrogate"),
    ("datetime in a typed dict", {"loose": {"at": dt.date(2026, 1, 1)}}, "loose.at", "is a `date`, which would come back as a `str`"),
    ("tuple in a typed dict", {"loose": {"pair": (1, 2)}}, "loose.pair", "is a `tuple`, which would come back as a `list`"),
]


@pytest.mark.parametrize("values, path, problem", [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_a_value_that_would_not_load_back_is_refused_naming_its_path_and_nothing_is_saved(saver, values, path, problem):
    first = save_one(saver, Typed(name="before"))
    bad = Typed(name="before").model_copy(update=values)
    bad = with_meta(bad, thread_id="t")
    for changes in (None, StateChanges.between(first.state, bad)):  # a snapshot, and a delta
        with pytest.raises(UnsaveableValueError) as caught:
            save_one(saver, bad, parent=first.checkpoint_id, changes=changes)
        assert caught.value.path == path and problem in str(caught.value), str(caught.value)
        assert f"`{path}`" in str(caught.value) and "nothing was saved" in str(caught.value)
    assert [c.checkpoint_id for c in run(saver.alist("t", schema=Typed))] == [first.checkpoint_id]
    assert run(saver.aget("t", schema=Typed)).state.name == "before"


MESSAGE_REFUSALS = [
    ("metadata datetime", lambda: Message.text_message("hi", at=dt.datetime(2026, 1, 1)), "messages[1].metadata.at", "datetime"),
    # the metadata dict is the value's first level
    ("metadata too deep", lambda: Message.text_message("hi", a=nested(MAX_DEPTH)), "messages[1].metadata" + ".a" * (MAX_DEPTH - 1), "deeper"),
    ("metadata big int", lambda: Message.text_message("hi", n=-(10**4300)), "messages[1].metadata.n", "4,300 digits"),
    ("content surrogate", lambda: Message.text_message("x\ud83d"), "messages[1].content", "lone surrogate"),
    ("metadata surrogate", lambda: Message.text_message("hi", note="\udc80"), "messages[1].metadata.note", "lone surrogate"),
    ("metadata set", lambda: Message.text_message("hi", tags={"a"}), "messages[1].metadata.tags", "list"),
]


@pytest.mark.parametrize("make, path, problem", [r[1:] for r in MESSAGE_REFUSALS], ids=[r[0] for r in MESSAGE_REFUSALS])
def test_a_message_that_would_not_load_back_is_refused_naming_its_path(saver, make, path, problem):
    first = save_one(saver, Notes(messages=[Message.text_message("ok")]))
    grown = first.state.model_copy(update={"messages": [*first.state.messages, make()]})
    for changes in (None, StateChanges.between(first.state, grown)):
        with pytest.raises(UnsaveableValueError) as caught:
            save_one(saver, grown, parent=first.checkpoint_id, changes=changes)
        assert caught.value.path == path and problem in str(caught.value), str(caught.value)
    assert len(run(saver.alist("t"))) == 1


def test_a_pause_reason_with_a_lone_surrogate_is_refused(saver):
    with pytest.raises(UnsaveableValueError, match="execution_meta.interrupt_reason"):
        save_one(saver, surrogate_in_meta(Notes()))
    assert run(saver.aget("t")) is None


def test_a_typed_value_its_own_type_cannot_read_back_is_refused():
    class Pairs(enum.Enum):
        PAIR = (1, 2)

    class Odd(AgentState):
        pairs: Pairs = Pairs.PAIR

    for saver in (InMemoryCheckpointer(), FileCheckpointer(tempfile.mkdtemp())):
        with pytest.raises(UnsaveableValueError, match="`pairs` would not load back"):
            run(saver.aput(snapshot(Odd())))


def test_a_run_writes_the_callers_thread_even_when_the_loaded_state_names_another(saver):
    from agentflow_nb import StateGraph

    graph = StateGraph(Notes)
    graph.add_node("A", lambda s: {"title": "ran"})
    app = graph.compile(checkpointer=saver)
    elsewhere = with_meta(Notes(title="copied"), thread_id="alice", status=ExecutionStatus.STOPPED, next_node="A")
    run(saver.aput(Checkpoint.of(elsewhere, thread_id="bob")))  # e.g. a thread file copied to bob
    result = app.invoke({}, config={"thread_id": "bob"})
    assert result["state"].title == "ran" and result["state"].execution_meta.thread_id == "bob"
    assert run(saver.aget("alice")) is None  # nothing written to the thread the data named
    assert {c.thread_id for c in run(saver.alist("bob"))} == {"bob"}
    assert run(saver.athreads()) == ["bob"]


def test_every_thread_listed_can_be_opened(saver):
    for thread in ("a", "B", "c d/é"):
        run(saver.aput(snapshot(Notes(title=thread), thread=thread)))
    listed = run(saver.athreads())
    assert sorted(listed) == sorted(["a", "B", "c d/é"])
    assert all(run(saver.aget(thread, schema=Notes)).state.title == thread for thread in listed)


def test_a_delta_that_cuts_the_messages_short_keeps_the_prefix(saver):
    """`messages_from` below the parent's count: the step kept that many and dropped the rest
    (a subgraph's own conversation ends); a later step can append again."""
    words = [Message.text_message(f"m{i}") for i in range(5)]
    full = Notes(title="a", messages=words)
    first = snapshot(full)
    run(saver.aput(first))
    cut = snapshot(full.model_copy(update={"messages": words[:3]}), parent=first.checkpoint_id)
    run(saver.aput(cut, changes=StateChanges(3, frozenset())))
    more = words[:3] + [Message.text_message("m-new")]
    grown = snapshot(full.model_copy(update={"messages": more}), parent=cut.checkpoint_id)
    run(saver.aput(grown, changes=StateChanges(3, frozenset())))
    contents = lambda cp: [m.content for m in run(saver.aget("t", cp.checkpoint_id, schema=Notes)).state.messages]  # noqa: E731
    assert contents(first) == ["m0", "m1", "m2", "m3", "m4"]
    assert contents(cut) == ["m0", "m1", "m2"]
    assert contents(grown) == ["m0", "m1", "m2", "m-new"]
    assert [len(c.state.messages) for c in run(saver.alist("t", schema=Notes))] == [4, 3, 5]


def test_a_subgraph_with_its_own_conversation_keeps_it_apart_paused_and_after(saver):
    """`share_messages=False`: while the thread waits inside WRITER, the root's conversation and
    WRITER's are loaded apart, by `get_state` and by history alike; the resumed run goes on
    with each conversation as it was, and the root never receives WRITER's messages."""
    from tests.checkpointer.pg_workers import own_conversation_app

    app = own_conversation_app(saver)
    config = {"thread_id": "t"}
    app.invoke({"messages": [Message.text_message("hi")]}, config=config)
    conversations = lambda cp: ([m.content for m in cp.state.messages],  # noqa: E731
                                [m.content for m in cp.state_at("WRITER").messages])
    paused = app.get_state(config)
    assert paused.node == "WRITER/REVIEW" and conversations(paused) == (["hi"], ["inner note"])
    assert conversations(app.get_state_history(config)[0]) == (["hi"], ["inner note"])
    assert conversations(app.get_state(config | {"checkpoint_id": paused.checkpoint_id})) == (["hi"], ["inner note"])
    app.invoke({}, config=config)
    done = app.get_state(config)
    assert done.status is ExecutionStatus.COMPLETED and not done.frames
    assert [m.content for m in done.state.messages] == ["hi", "done after 1"]
    reviewed = next(c for c in app.get_state_history(config) if c.node == "WRITER/REVIEW")
    assert conversations(reviewed) == (["hi"], ["inner note", "review of 1"])
