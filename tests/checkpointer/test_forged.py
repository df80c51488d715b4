"""Thread files edited by hand or forged: a complete last line is kept, and a record whose values
are out of shape is a `CheckpointCorruptError` naming file and line, never a bare Python error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentflow_nb import (
    END,
    START,
    AgentState,
    CheckpointCorruptError,
    CheckpointWarning,
    ExecutionStatus,
    FileCheckpointer,
    StateGraph,
)
from agentflow_nb.checkpointer import file as file_module
from agentflow_nb.checkpointer.packed import CorruptLayout, split_packed
from agentflow_nb.checkpointer.records import encode_line, parse_record
from tests.graph.nested_graphs import go, supervisor, writer_graph

S = ExecutionStatus


class Refund(AgentState):
    amount: float = 0.0
    approved: bool = False


def refund_app(folder: Path):
    """The README's refund graph: ASSESS, then a pause before PAY."""
    graph = StateGraph(Refund)
    graph.add_node("ASSESS", lambda s: "looks fine")
    graph.add_node("PAY", lambda s: {"paid": s.approved})
    graph.add_edge(START, "ASSESS").add_edge("ASSESS", "PAY").add_edge("PAY", END)
    return graph.compile(checkpointer=FileCheckpointer(folder), interrupt_before=["PAY"])


def approved_thread(folder: Path):
    """A refund paused before PAY whose approval is the file's last line."""
    app = refund_app(folder)
    config = {"thread_id": "refund-42"}
    app.invoke({"amount": 30}, config)
    app.update_state(config, {"approved": True})
    return app, config, folder / "refund-42.jsonl"


# -- 1. a complete last line without its final newline is a record, not a torn tail -------


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_a_last_line_missing_only_its_newline_is_kept_and_the_approval_is_not_lost(tmp_path, line_end):
    app, config, path = approved_thread(tmp_path)
    data = path.read_bytes().replace(b"\n", line_end)
    path.write_bytes(data[:-1])  # an editor saved it without the final "\n"
    approval = json.loads(data.splitlines()[-1])["id"]
    fresh = refund_app(tmp_path)  # nothing cached; a CheckpointWarning would fail the test
    saved = fresh.get_state(config)
    assert saved.state.approved is True and saved.checkpoint_id == approval
    assert fresh.get_state({**config, "checkpoint_id": approval}).state.approved is True
    assert fresh.threads() == ["refund-42"]
    result = fresh.invoke({}, config)
    assert result["status"] is S.COMPLETED and result["state"].model_extra == {"paid": True}
    kept = path.read_bytes()
    assert kept.startswith(data) and kept.endswith(b"\n")  # the line got its newline back
    assert [json.loads(line)["id"] for line in kept.splitlines()].count(approval) == 1


def test_a_last_line_without_newline_that_fails_its_checksum_is_still_a_torn_tail(tmp_path):
    app, config, path = approved_thread(tmp_path)
    data = bytearray(path.read_bytes()[:-1])
    data[-5] ^= 1  # the approval's last line, damaged and unterminated: a write that never finished
    path.write_bytes(bytes(data))
    with pytest.warns(CheckpointWarning, match="torn"):
        assert refund_app(tmp_path).get_state(config).state.approved is False


def test_repair_keeps_a_last_line_that_lost_only_its_newline(tmp_path, monkeypatch):
    monkeypatch.setattr(file_module, "SNAPSHOT_MIN_BYTES", 0)  # the approval is a snapshot: it survives
    app, config, path = approved_thread(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    damaged = bytearray(lines[1])
    damaged[damaged.index(b'"step":') + 7] ^= 1
    path.write_bytes(b"".join([lines[0], bytes(damaged), *lines[2:]])[:-1])
    report = FileCheckpointer(tmp_path).repair("refund-42", keep="last-snapshot")
    assert report.damaged_line == 2
    assert path.read_bytes().endswith(b"\n")
    assert refund_app(tmp_path).get_state(config).state.approved is True


# -- 5. threads() lists exactly the files get_state opens ---------------------------------


def test_threads_leaves_out_a_file_holding_only_a_torn_first_line(tmp_path):
    app, config, path = approved_thread(tmp_path)
    first = path.read_bytes().splitlines(keepends=True)[0]
    (tmp_path / "torn.jsonl").write_bytes(first[: len(first) // 2])
    (tmp_path / "whole.jsonl").write_bytes(first[:-1])  # complete, only unterminated
    assert app.threads() == ["refund-42", "whole"]
    with pytest.warns(CheckpointWarning, match="torn"):
        assert app.get_state({"thread_id": "torn"}) is None
    assert app.get_state({"thread_id": "whole"}) is not None


# -- 2. forged records: CheckpointCorruptError naming file and line -----------------------


def records_of(path: Path):
    return [parse_record(raw, 0) for raw in path.read_bytes().splitlines(keepends=True)]


def appended(path: Path, *lines: bytes) -> int:
    """Append forged lines; the 1-based number of the first of them."""
    before = path.read_bytes()
    path.write_bytes(before + b"".join(lines))
    return before.count(b"\n") + 1


def snapshot_after(last, fields: dict[str, str], messages: bytes, n: int, **head) -> bytes:
    return encode_line({**last.head(), "id": "forged", "parent": last.id, "snap": True, "mfrom": 0, "n": n,
                        "drop": [], **head}, fields, messages)


def paused_in_subgraph(folder: Path):
    """A supervisor thread paused inside its WRITER subgraph: its records are packed."""
    app = supervisor([], writer_graph([]), checkpointer=FileCheckpointer(folder),
                     interrupt_before=["WRITER/REVIEW"])
    go(app)
    path = folder / "t.jsonl"
    assert any("/" in record.fields for record in records_of(path))
    return app, path


def packed_fields(path: Path) -> dict[str, str]:
    """The fields of the newest checkpoint (snapshot fields with every delta applied)."""
    fields: dict[str, str] = {}
    for record in records_of(path):
        fields = dict(record.fields) if record.snap else {**fields, **record.fields}
        for name in record.drop:
            fields.pop(name, None)
    return fields


LAYOUTS = {
    "not-an-object": {"/": "1"},
    "frame-without-keys": {"/": '{"n":0,"frames":[{}]}'},
    "n-not-a-number": {"/": '{"n":"x","frames":[]}'},
    "n-negative": {"/": '{"n":-1,"frames":[]}'},
    "frames-not-a-list": {"/": '{"n":0,"frames":{}}'},
    "own-not-a-number": {"/": '{"n":0,"frames":[{"path":"WRITER","own":"2","changed":[]}]}'},
    "changed-not-names": {"/": '{"n":0,"frames":[{"path":"WRITER","own":null,"changed":[1]}]}'},
    "path-empty": {"/": '{"n":0,"frames":[{"path":"","own":null,"changed":null}]}'},
    "own-beyond-the-messages": {"/": '{"n":0,"frames":[{"path":"WRITER","own":50,"changed":null}]}'},
    "frame-key-not-a-depth": {"/x/y": "1"},
    "frame-key-depth-zero": {"/0/topic": '"a"'},
    "frame-key-huge-depth": {"/" + "9" * 5000 + "/topic": '"a"'},
    "frame-key-without-name": {"/1/": '"a"'},
}


@pytest.mark.parametrize("change", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_a_forged_subgraph_layout_is_damage_naming_file_and_line(tmp_path, change):
    app, path = paused_in_subgraph(tmp_path)
    last = records_of(path)[-1]
    fields = {**packed_fields(path), **change}
    messages = json.dumps([m.model_dump(mode="json") for m in app.get_state({"thread_id": "t"}).state.messages])
    n = len(app.get_state({"thread_id": "t"}).state.messages)
    line = appended(path, snapshot_after(last, fields, messages[1:-1].encode(), n))
    fresh = supervisor([], writer_graph([]), checkpointer=FileCheckpointer(tmp_path))
    for call in (lambda: fresh.get_state({"thread_id": "t"}), lambda: fresh.get_state_history({"thread_id": "t"})):
        with pytest.raises(CheckpointCorruptError, match=rf"`t.jsonl` is damaged at line {line}: ") as caught:
            call()
        assert caught.value.line == line


def test_packed_messages_that_are_not_json_are_damage(tmp_path):
    app, path = paused_in_subgraph(tmp_path)
    last = records_of(path)[-1]
    line = appended(path, snapshot_after(last, packed_fields(path), b'{"role": ', 1))
    with pytest.raises(CheckpointCorruptError, match=rf"line {line}: .*messages that are not valid JSON"):
        supervisor([], writer_graph([]), checkpointer=FileCheckpointer(tmp_path)).get_state({"thread_id": "t"})


def test_the_layout_check_keeps_what_the_engine_writes():
    fields = {"topic": '"owls"', "/": '{"n":1,"frames":[{"path":"W","own":1,"changed":["draft"]}]}',
              "/1/draft": '"d"', "/3/stale": '"x"'}
    root, messages, frames = split_packed(fields, ["m0", "m1"])
    assert root == {"topic": '"owls"'} and messages == ["m0"]
    assert [(f.path, f.fields, f.messages, f.changed) for f in frames] == [("W", {"draft": '"d"'}, ["m1"], ("draft",))]
    with pytest.raises(CorruptLayout, match="is not valid JSON"):  # text a store kept as it was given
        split_packed({"/": '{"n":'}, [])
    assert issubclass(CorruptLayout, ValueError)  # generic: any store turns it into its own error


def flat_thread(folder: Path):
    app = refund_app(folder)
    app.invoke({"amount": 30}, {"thread_id": "t"})
    return app, folder / "t.jsonl"


@pytest.mark.parametrize("at", [10**400, float("nan"), float("inf")], ids=["huge", "nan", "inf"])
def test_a_forged_time_is_damage(tmp_path, at):
    app, path = flat_thread(tmp_path)
    last = records_of(path)[-1]
    line = appended(path, encode_line({**last.head(), "id": "z", "parent": last.id, "snap": False,
                                       "mfrom": last.n, "at": at}, {}, b""))
    with pytest.raises(CheckpointCorruptError, match=rf"line {line}: `at` is .*not a finite number"):
        refund_app(tmp_path).get_state({"thread_id": "t"})


@pytest.mark.parametrize("piece", [b'\xff\xfe,{"a":1}', b'{"a":,{"a":1}'], ids=["bad-utf8", "not-json"])
def test_a_delta_that_keeps_part_of_undecodable_messages_is_damage(tmp_path, piece):
    app, path = flat_thread(tmp_path)
    last = records_of(path)[-1]
    snapshot = snapshot_after(last, dict(records_of(path)[0].fields), piece, 2, id="p1")
    delta = encode_line({**last.head(), "id": "p2", "parent": "p1", "snap": False, "mfrom": 1, "n": 1,
                         "base": len(path.read_bytes())}, {}, b"")
    line = appended(path, snapshot, delta) + 1
    with pytest.raises(CheckpointCorruptError, match=rf"line {line}: the messages it keeps are not valid JSON"):
        refund_app(tmp_path).get_state({"thread_id": "t"})
