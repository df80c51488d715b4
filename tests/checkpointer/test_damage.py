"""`FileCheckpointer` and damage: a torn last line is a crash and is cut; anything else is an error."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import zlib
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
    Message,
    StateGraph,
)
from agentflow_nb.checkpointer import chains
from agentflow_nb.checkpointer import file as file_module
from tests.checkpointer.test_file import counting_app

MIB = 1 << 20


class Notes(AgentState):
    count: int = 0


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def big_message_app(folder: Path, size: int):
    """Each step adds a message of `size` characters, so each line is larger than `size` bytes."""
    graph = StateGraph(Notes)
    graph.add_node("WRITE", lambda s: {"count": s.count + 1, "messages": [Message.text_message("x" * size)]})
    graph.add_edge(START, "WRITE")
    graph.add_conditional_edges("WRITE", lambda s: END if s.count >= 3 else "WRITE")
    return graph.compile(checkpointer=FileCheckpointer(folder))


def test_a_torn_last_line_longer_than_a_mebibyte_cuts_only_that_line(tmp_path):
    app = big_message_app(tmp_path, 3 * MIB)
    config = {"thread_id": "t"}
    app.invoke({"count": 0}, config=config)
    path = tmp_path / "t.jsonl"
    good = lines(path)
    assert len(good[-1]) > 2 * MIB
    torn = good[-1][: len(good[-1]) - MIB // 2]  # the crash hit 3 MiB into a 3.5 MiB line
    path.write_bytes(b"".join(good[:-1]) + torn)
    with pytest.warns(CheckpointWarning, match="torn"):
        resumed = app.invoke({}, config=config)
    assert resumed["state"].count == 3 and len(resumed["messages"]) == 3
    assert lines(path)[: len(good) - 1] == good[:-1]  # every complete line kept
    assert path.read_bytes().endswith(b"\n")


S = ExecutionStatus


def paused_thread(folder: Path):
    """A thread of 11 lines (start + 10 steps), paused before its last node."""
    app = counting_app(folder, steps=10, interrupt_before=["N9"])
    app.invoke({"messages": [Message.text_message("go")]}, config={"thread_id": "t"})
    path = folder / "t.jsonl"
    assert len(lines(path)) == 11
    return app, path


def flip_a_byte(path: Path, index: int) -> None:
    data = lines(path)
    line = bytearray(data[index])
    at = line.index(b'"count":') + len(b'"count":')
    line[at] = ord("9") if line[at] != ord("9") else ord("8")
    data[index] = bytes(line)
    path.write_bytes(b"".join(data))


def test_one_damaged_byte_in_line_5_of_11_stops_the_thread_with_an_error_naming_file_and_line(tmp_path):
    app, path = paused_thread(tmp_path)
    flip_a_byte(path, 4)  # line 5: no warning and no rollback to step 3
    before = path.read_bytes()
    config = {"thread_id": "t"}
    calls = [
        lambda: app.get_state(config),
        lambda: app.get_state_history(config),
        lambda: app.invoke({}, config=config),
        lambda: app.invoke({"messages": [Message.text_message("approved")]}, config=config),
        lambda: app.update_state(config, {"count": 0}),
    ]
    for call in calls:
        with pytest.raises(CheckpointCorruptError, match=r"`t.jsonl` is damaged at line 5: it fails its checksum") as caught:
            call()
        assert (caught.value.line, Path(caught.value.path)) == (5, path)
        assert 'repair(\'t\', keep="before-damage")' in str(caught.value)
    assert path.read_bytes() == before  # nothing was run, nothing appended


def test_damage_before_the_last_snapshot_still_gives_the_newest_checkpoint_but_not_the_history(tmp_path, monkeypatch):
    monkeypatch.setattr(file_module, "SNAPSHOT_MIN_BYTES", 0)  # a snapshot every few lines
    app, path = paused_thread(tmp_path)
    snaps = [i for i, line in enumerate(lines(path)) if json.loads(line)["snap"]]
    assert snaps[0] == 0 and len(snaps) > 2
    flip_a_byte(path, 1)  # before the last snapshot: the newest checkpoint does not need it
    assert app.get_state({"thread_id": "t"}).state.count == 9
    with pytest.raises(CheckpointCorruptError, match="line 2"):
        app.get_state_history({"thread_id": "t"})


def test_a_thread_file_converted_to_crlf_loads_and_resumes_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setattr(file_module, "SNAPSHOT_MIN_BYTES", 0)
    app, path = paused_thread(tmp_path)
    config = {"thread_id": "t"}
    expected = [(c.checkpoint_id, c.state.count, len(c.state.messages)) for c in app.get_state_history(config)]
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    fresh = counting_app(tmp_path, steps=10)  # nothing cached
    assert [(c.checkpoint_id, c.state.count, len(c.state.messages)) for c in fresh.get_state_history(config)] == expected
    assert fresh.get_state(config).status is S.INTERRUPTED_BEFORE
    result = fresh.invoke({"messages": [Message.text_message("approved")]}, config=config)  # not a restart
    assert result["status"] is S.COMPLETED and result["state"].count == 10
    assert [m.content for m in result["messages"]][:3] == ["go", "N0", "N1"]


def test_repair_before_damage_keeps_every_line_before_it_and_the_file_as_it_was(tmp_path):
    app, path = paused_thread(tmp_path)
    flip_a_byte(path, 4)
    damaged = path.read_bytes()
    report = FileCheckpointer(tmp_path).repair("t", keep="before-damage")
    assert (report.damaged_line, report.kept, report.dropped) == (5, 4, 7)
    assert report.backup.read_bytes() == damaged and report.backup.parent == tmp_path
    assert lines(path) == damaged.splitlines(keepends=True)[:4]
    saved = app.get_state({"thread_id": "t"})
    assert (saved.step, saved.node, saved.state.count) == (3, "N2", 3)
    assert saved.checkpoint_id == report.resumes_from
    assert app.threads() == ["t"]  # the copy is not taken for a thread
    result = app.invoke({}, config={"thread_id": "t"})
    assert result["interrupted"] and result["state"].count == 9  # N3.. ran again up to the pause


def test_repair_from_the_last_snapshot_keeps_what_can_still_be_rebuilt_after_the_damage(tmp_path, monkeypatch):
    monkeypatch.setattr(file_module, "SNAPSHOT_MIN_BYTES", 0)
    app, path = paused_thread(tmp_path)
    config = {"thread_id": "t"}
    history = {c.checkpoint_id: c.state.model_dump(mode="json") for c in app.get_state_history(config)}
    snaps = [i for i, line in enumerate(lines(path)) if json.loads(line)["snap"]]
    damaged_index = snaps[-1] - 1  # a delta just before the last snapshot
    flip_a_byte(path, damaged_index)
    report = FileCheckpointer(tmp_path).repair("t", keep="last-snapshot")
    assert report.damaged_line == damaged_index + 1 and report.dropped == 1
    fresh = counting_app(tmp_path, steps=10)
    newest = fresh.get_state(config)
    assert newest.status is S.INTERRUPTED_BEFORE and newest.state.count == 9
    rebuilt = fresh.get_state_history(config)
    assert len(rebuilt) == 10
    for checkpoint in rebuilt:  # every kept checkpoint is exactly what it was
        assert checkpoint.state.model_dump(mode="json") == history[checkpoint.checkpoint_id]
    assert fresh.invoke({}, config=config)["state"].count == 10


def test_repair_from_the_command_line_and_a_dry_run(tmp_path):
    _, path = paused_thread(tmp_path)
    flip_a_byte(path, 4)
    damaged = path.read_bytes()
    command = [sys.executable, "-m", "agentflow_nb.checkpointer.repair", str(tmp_path), "t"]
    dry = subprocess.run([*command, "--dry-run"], capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert "line 5 is damaged" in dry.stdout and "dry run" in dry.stdout
    assert path.read_bytes() == damaged
    done = subprocess.run([*command, "--keep", "before-damage"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "kept 4 lines" in done.stdout and len(lines(path)) == 4
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert "nothing to repair" in again.stdout


def forge(record: dict) -> bytes:
    """A line with a valid checksum (version 1: no `mlen` to keep right by hand)."""
    record = {k: v for k, v in record.items() if k not in ("sum", "mlen")}
    body = json.dumps({"v": 1, **{k: v for k, v in record.items() if k != "v"}}, separators=(",", ":")).encode()
    return b'{"sum":"%08x",' % zlib.crc32(body) + body[1:] + b"\n"


def completed_thread(folder: Path):
    app = counting_app(folder, steps=2)
    app.invoke({"messages": []}, config={"thread_id": "t"})
    path = folder / "t.jsonl"
    return app, path, [json.loads(line) for line in lines(path)]


def test_records_whose_parents_form_a_cycle_are_refused_in_bounded_time(tmp_path):
    app, path, records = completed_thread(tmp_path)
    last = records[-1]
    a = {**last, "id": "a", "parent": "b", "snap": False, "mfrom": last["n"]}
    b = {**last, "id": "b", "parent": "a", "snap": False, "mfrom": last["n"]}
    path.write_bytes(path.read_bytes() + forge(a) + forge(b))
    with pytest.raises(CheckpointCorruptError, match="line 4: its parent `b` is not earlier in the file"):
        app.get_state({"thread_id": "t"})
    with pytest.raises(CheckpointCorruptError, match="line 4"):
        app.get_state_history({"thread_id": "t"})


def test_a_self_parent_appended_after_a_good_thread_is_refused(tmp_path):
    app, path, records = completed_thread(tmp_path)
    path.write_bytes(path.read_bytes() + forge({**records[-1], "id": "me", "parent": "me", "snap": False}))
    with pytest.raises(CheckpointCorruptError, match="line 4: its parent `me` is not earlier"):
        app.get_state({"thread_id": "t"})
    with pytest.raises(CheckpointCorruptError):
        app.get_state_history({"thread_id": "t"}, limit=1)


def test_a_repeated_checkpoint_id_is_damage(tmp_path):
    app, path, records = completed_thread(tmp_path)
    path.write_bytes(path.read_bytes() + forge(records[1]))
    with pytest.raises(CheckpointCorruptError, match="line 4: it repeats checkpoint id"):
        app.get_state({"thread_id": "t"})


@pytest.mark.parametrize("base", [10**12, -5, 7, 3])
def test_a_forged_base_is_only_a_hint_and_loading_stays_right(tmp_path, base):
    app, path, records = completed_thread(tmp_path)
    expected = app.get_state({"thread_id": "t"}).state
    forged = {**records[-1], "base": base}
    path.write_bytes(b"".join(lines(path)[:-1]) + forge(forged))
    if base < 0:
        with pytest.raises(CheckpointCorruptError, match="`base` is `-5`, not a whole number"):
            app.get_state({"thread_id": "t"})
        return
    assert counting_app(tmp_path, steps=2).get_state({"thread_id": "t"}).state == expected


DEEP = {"x": []}
for _ in range(100_000):
    DEEP = {"x": DEEP}


@pytest.mark.parametrize(
    "change",
    [
        {"step": "three"},
        {"step": True},
        {"status": "exploded"},
        {"source": 42},
        {"snap": "yes"},
        {"id": None},
        {"fields": ["count", 1]},
        {"drop": "count"},
        {"mfrom": 99},
        {"n": 99},
        {"messages": {"not": "a list"}},
        {"fields": DEEP},
        {"fields": {"count": {"py/object": "os.system"}}},
        {"fields": {"messages": "no"}},
    ],
    ids=lambda change: next(iter(change)) + ("-deep" if change.get("fields") is DEEP else ""),
)
def test_a_forged_record_is_a_clear_error_never_a_bare_python_one(tmp_path, change):
    app, path, records = completed_thread(tmp_path)
    forged = {**records[-1], "id": "forged", "parent": records[-1]["id"], **change}
    try:
        line = forge(forged)
    except RecursionError:  # the standard encoder cannot write it either: write it by hand
        line = forge({**forged, "fields": {}}).replace(b'"fields":{}', b'"fields":' + b'{"x":' * 100_000 + b"1" + b"}" * 100_000)
    path.write_bytes(path.read_bytes() + line)
    with pytest.raises(CheckpointCorruptError, match=r"`t.jsonl` is damaged at line 4: "):
        app.get_state({"thread_id": "t"})


def test_user_data_that_looks_like_a_class_path_is_plain_data(tmp_path):
    app = counting_app(tmp_path, steps=1)
    payload = {"py/object": "os.system", "__class__": "subprocess.Popen", "__reduce__": ["eval", ["1"]]}
    message = Message.text_message("look", role="user", **payload)
    result = app.invoke({"messages": [message], "payload": payload}, config={"thread_id": "t"})
    loaded = app.get_state({"thread_id": "t"}).state
    assert loaded.payload == payload and loaded.messages[0].metadata == payload
    assert result["state"].payload == payload


def test_history_with_a_limit_reads_only_the_end_of_a_long_file(tmp_path, monkeypatch):
    graph = StateGraph(Notes)
    graph.add_node("TURN", lambda s: {"count": s.count + 1, "messages": [Message.text_message(f"turn {s.count} " * 20)]})
    graph.add_edge(START, "TURN")
    graph.add_conditional_edges("TURN", lambda s: END if s.count >= 2000 else "TURN")
    app = graph.compile(checkpointer=FileCheckpointer(tmp_path))
    config = {"thread_id": "t", "recursion_limit": 3000}
    app.invoke({"messages": []}, config=config)
    size = (tmp_path / "t.jsonl").stat().st_size
    snapshot = max(len(line) for line in lines(tmp_path / "t.jsonl") if json.loads(line)["snap"])
    read = []
    real = chains.ThreadFile.read
    monkeypatch.setattr(chains.ThreadFile, "read", lambda self, start, end: read.append(end - start) or real(self, start, end))
    fresh = FileCheckpointer(tmp_path)
    for limit in (1, 5, 50):
        read.clear()
        history = asyncio.run(fresh.alist("t", schema=Notes, limit=limit))
        assert [c.step for c in history] == list(range(2000, 2000 - limit, -1))
        # the newest state's snapshot and the deltas after it (never more than its size), not the file
        assert sum(read) <= 2 * snapshot + 65536 < size / 3, (limit, sum(read), snapshot, size)


def test_a_thread_file_written_in_the_version_1_format_loads_and_goes_on(tmp_path):
    app, path = paused_thread(tmp_path)
    config = {"thread_id": "t"}
    expected = [(c.checkpoint_id, c.state.model_dump(mode="json")) for c in app.get_state_history(config)]
    path.write_bytes(b"".join(forge(json.loads(line)) for line in lines(path)))  # as earlier versions wrote it
    assert all(json.loads(line)["v"] == 1 and "mlen" not in json.loads(line) for line in lines(path))
    fresh = counting_app(tmp_path, steps=10)
    assert [(c.checkpoint_id, c.state.model_dump(mode="json")) for c in fresh.get_state_history(config)] == expected
    result = fresh.invoke({}, config=config)
    assert result["status"] is S.COMPLETED and result["state"].count == 10
    assert json.loads(lines(path)[-1])["v"] == 2  # new lines in the new format, after the old ones
