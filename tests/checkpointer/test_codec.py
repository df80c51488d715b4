"""The field codec: what the in-memory store keeps reads back exactly as the file store writes it."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import enum

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentflow_nb import AgentState, ExecutionStatus, InMemoryCheckpointer
from agentflow_nb.checkpointer.base import Checkpoint, encode_fields, freeze_fields, thaw
from agentflow_nb.graph.updates import with_meta


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Inner(pydantic.BaseModel):
    n: int = 0
    tags: list[str] = []


class Mixed(AgentState):
    count: int = 0
    ratio: float = 0.5
    name: str | None = None
    color: Color = Color.RED
    when: dt.datetime = dt.datetime(2026, 1, 1)
    inner: Inner = Inner()
    table: dict[str, list[int]] = {}
    blob: bytes = b""


class Shouting(AgentState):
    word: str = "hi"

    @pydantic.field_serializer("word")
    def _upper(self, value: str) -> str:
        return value.upper()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


def thawed(state, names=None):
    return {name: thaw(value) for name, value in freeze_fields(state, names).items()}


@given(
    count=st.integers(), ratio=st.floats(), name=st.none() | st.text(max_size=8),
    color=st.sampled_from(Color), extra=json_values,
    data=st.none() | st.dictionaries(st.text(max_size=3), json_values, max_size=2),
)
def test_frozen_fields_thaw_to_the_text_the_encoder_writes(count, ratio, name, color, extra, data):
    state = Mixed(count=count, ratio=ratio, name=name, color=color, inner=Inner(n=1, tags=["a"]),
                  table={"k": [1]}, blob=b"\x00x", loose=extra)
    meta = dict(status=ExecutionStatus.INTERRUPTED_BEFORE, current_node="N", step=3, interrupt_data=data)
    state = with_meta(state, **meta)
    assert thawed(state) == encode_fields(state)
    assert thawed(state, ["count", "execution_meta", "loose", "gone"]) == encode_fields(
        state, ["count", "execution_meta", "loose", "gone"])


def test_a_schema_with_its_own_serializers_is_frozen_through_them():
    state = Shouting(word="quiet")
    assert thawed(state) == encode_fields(state) and thawed(state)["word"] == '"QUIET"'


@pytest.mark.parametrize("data", [None, {"ask": ["why"]}])
def test_nothing_kept_in_memory_changes_when_the_saved_state_does(data):
    saver = InMemoryCheckpointer()
    saved_data = copy.deepcopy(data)
    state = with_meta(Mixed(table={"k": [1]}), thread_id="t", current_node="N", interrupt_data=data)
    asyncio.run(saver.aput(Checkpoint.of(state)))
    state.table["k"].append(2)
    state.inner.tags.append("late")
    state.execution_meta.current_node = "changed"
    if data is not None:
        state.execution_meta.interrupt_data["ask"].append("late")
    loaded = asyncio.run(saver.aget("t", schema=Mixed)).state
    assert loaded.table == {"k": [1]} and loaded.inner.tags == []
    assert loaded.execution_meta.current_node == "N" and loaded.execution_meta.interrupt_data == saved_data


def test_decoding_a_large_state_pauses_the_collector_and_gives_it_back(monkeypatch):
    import gc
    import threading

    from agentflow_nb import Message
    from agentflow_nb.checkpointer import codec

    monkeypatch.setattr(codec, "GC_PAUSE_BYTES", 1000)
    texts = [Message.text_message(f"message {i}").model_dump_json() for i in range(100)]
    seen = []
    real = codec._json_validator

    def spy(schema):
        validate = real(schema)

        def spied(text):
            seen.append(gc.isenabled())
            return validate(text)

        return spied

    monkeypatch.setattr(codec, "_json_validator", spy)
    assert gc.isenabled()
    assert len(codec.decode_state(AgentState, {}, texts).messages) == 100
    assert len(codec.decode_state(AgentState, {}, texts[:1]).messages) == 1  # small: left alone
    assert seen == [False, True] and gc.isenabled()
    errors = []

    def decode_many():  # decoders in several threads: the collector comes back after the last
        try:
            for _ in range(50):
                codec.decode_state(AgentState, {}, texts)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    workers = [threading.Thread(target=decode_many) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors and gc.isenabled()
    gc.disable()
    try:
        codec.decode_state(AgentState, {}, texts)
        assert not gc.isenabled()  # one that was off stays off
    finally:
        gc.enable()


def test_a_large_state_comes_back_counted_as_old_and_an_apps_frozen_objects_stay_frozen(monkeypatch):
    import gc
    import weakref

    from agentflow_nb import Message
    from agentflow_nb.checkpointer import codec

    monkeypatch.setattr(codec, "GC_PAUSE_BYTES", 1000)
    texts = [Message.text_message(f"message {i}").model_dump_json() for i in range(200)]
    state = codec.decode_state(AgentState, {}, texts)
    # moved to the oldest generation without a pass over them: nothing of the state is young
    assert gc.isenabled() and gc.get_freeze_count() == 0
    young = {id(o) for o in gc.get_objects(generation=0)}
    assert not any(id(m) in young or id(m.metadata) in young for m in state.messages)

    class Node:
        pass

    gc.freeze()  # an application's own frozen objects (e.g. before fork) are not released
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        assert len(codec.decode_state(AgentState, {}, texts).messages) == 200
        assert gc.isenabled() and gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()
    cycle = Node()
    cycle.me = cycle  # garbage with a cycle is still collected after a decode
    gone = weakref.ref(cycle)
    del cycle
    codec.decode_state(AgentState, {}, texts)
    gc.collect()
    assert gone() is None


def test_a_subgraph_layout_is_written_as_its_dict_and_checked_even_when_its_like_was_seen():
    import json

    from agentflow_nb import UnsaveableValueError
    from agentflow_nb.checkpointer import codec
    from agentflow_nb.checkpointer.packed import FRAME_KEY, Layout, split_packed

    layout = Layout(2, (("WRITER", None, ("draft",)), ("WRITER/CRITIC", 1, None)))
    plain = {"n": 2, "frames": [{"path": "WRITER", "own": None, "changed": ["draft"]},
                                {"path": "WRITER/CRITIC", "own": 1, "changed": None}]}
    state = AgentState().model_copy(update={FRAME_KEY: layout})
    for _ in range(2):  # the second time from the store of checked layouts
        text = codec.encode_fields(state)[FRAME_KEY]
        assert json.loads(text) == plain
        assert codec.thaw(codec.freeze_fields(state)[FRAME_KEY]) == text
    root, messages, frames = split_packed({FRAME_KEY: text}, ["m0", "m1", "m2"])
    assert messages == ["m0", "m1"] and [(f.path, f.messages) for f in frames] == [("WRITER", None),
                                                                                  ("WRITER/CRITIC", ["m2"])]
    bad = AgentState().model_copy(update={FRAME_KEY: Layout(2, (("WRITER\ud800", None, ("draft",)),))})
    for write in (codec.encode_fields, codec.freeze_fields):
        with pytest.raises(UnsaveableValueError, match="lone surrogate"):
            write(bad)


def test_a_loaded_state_goes_through_the_schemas_validators_also_after_the_schema_is_rebuilt(tmp_path):
    from agentflow_nb import FileCheckpointer
    from agentflow_nb.errors import CheckpointCorruptError

    class Ticket(AgentState):
        amount: int = 0

        @pydantic.field_validator("amount")
        @classmethod
        def _at_most_100(cls, value: int) -> int:
            if value > 100:
                raise ValueError("too large for this schema")
            return value

    saver = FileCheckpointer(tmp_path)
    asyncio.run(saver.aput(Checkpoint.of(Ticket.model_construct(amount=500, messages=[]), thread_id="t")))
    with pytest.raises(CheckpointCorruptError, match="does not load as `Ticket`.*amount.*too large"):
        asyncio.run(FileCheckpointer(tmp_path).aget("t", schema=Ticket))
    Ticket.model_fields["amount"].annotation = str  # a schema changed and rebuilt in place
    Ticket.model_rebuild(force=True)
    with pytest.raises(CheckpointCorruptError, match="amount.*string"):  # the rebuilt schema is the one used
        asyncio.run(FileCheckpointer(tmp_path).aget("t", schema=Ticket))



_TRICKY = ',"metadata":{},'  # what the writer leaves out of a message whose metadata is empty


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_empty_metadata_is_left_out_of_what_is_saved_and_every_message_comes_back_as_it_was(tmp_path, kind):
    import json

    from agentflow_nb import FileCheckpointer, Message, StateGraph

    messages = [
        Message.text_message("plain"),
        Message.text_message(f"looks like a field: {_TRICKY} and a quote \" and a backslash \\"),
        Message.text_message("kept", nested={"a": 1, "metadata": {}, "timestamp": 2}, note=_TRICKY),
        Message(content="ends in a backslash \\", role="tool"),
    ]
    graph = StateGraph().add_node("ECHO", lambda s: Message.text_message("done", role="assistant"))
    saver = FileCheckpointer(tmp_path) if kind == "file" else InMemoryCheckpointer()
    config = {"thread_id": "t"}
    expected = graph.compile(checkpointer=saver).invoke({"messages": messages}, config)["messages"]
    assert len(expected) == 5
    stores = [saver, FileCheckpointer(tmp_path)] if kind == "file" else [saver]  # the same, and a new one
    for store in stores:
        loaded = graph.compile(checkpointer=store).get_state(config).state.messages
        assert loaded == expected
        assert [m.metadata for m in loaded] == [m.metadata for m in expected]
        assert type(loaded[0].metadata) is dict and loaded[0].metadata is not loaded[1].metadata
    if kind == "file":
        lines = (tmp_path / "t.jsonl").read_text().splitlines()
        saved = [m for line in lines for m in json.loads(line)["messages"]]
        assert [("metadata" in m) for m in saved] == [False, False, True, False, False]
        assert saved[2]["metadata"] == {"nested": {"a": 1, "metadata": {}, "timestamp": 2}, "note": _TRICKY}
        assert saved[1]["content"] == messages[1].content
